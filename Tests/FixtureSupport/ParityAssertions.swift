import XCTest
import Tensor

/// Largest absolute deviation, and the relative deviation at the worst element (|d| / max(|ref|, 1e-12)).
public struct Deviation { public var maxAbs: Float; public var maxRel: Float; public var index: Int }

public func deviation(_ actual: [Float], _ expected: [Float]) -> Deviation {
    var d = Deviation(maxAbs: 0, maxRel: 0, index: -1)
    for i in 0..<min(actual.count, expected.count) {
        let diff = abs(actual[i] - expected[i])
        if diff > d.maxAbs || diff.isNaN { d.maxAbs = diff.isNaN ? .infinity : diff; d.index = i }
        d.maxRel = max(d.maxRel, diff / max(abs(expected[i]), 1e-12))
    }
    return d
}

/// Fails naming the tensor, its shapes, and the max abs / rel deviation when outside `tolerance`.
@discardableResult
public func assertParity(_ actual: Tensor, _ expected: Tensor, tolerance: Float, _ name: String,
                  file: StaticString = #filePath, line: UInt = #line) -> Deviation {
    guard actual.count == expected.count else {
        XCTFail("\(name): shape \(actual.shape) vs expected \(expected.shape)", file: file, line: line)
        return Deviation(maxAbs: .infinity, maxRel: .infinity, index: -1)
    }
    let d = deviation(actual.storage, expected.storage)
    let summary = "\(name): max abs diff \(d.maxAbs) (tolerance \(tolerance)), max rel \(d.maxRel), worst index \(d.index)"
    print("parity \(summary)")
    XCTAssertLessThanOrEqual(d.maxAbs, tolerance, summary, file: file, line: line)
    return d
}

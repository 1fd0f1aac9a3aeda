import Foundation
import XCTest
import FixtureSupport
@testable import StageCache

/// A fresh directory under the system temp dir, removed when the test ends.
func temporaryDirectory(_ test: XCTestCase, _ name: String = "cache") throws -> String {
    let dir = FileManager.default.temporaryDirectory
        .appendingPathComponent("stagecache-tests-\(UUID().uuidString)").appendingPathComponent(name).path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: (dir as NSString).deletingLastPathComponent) }
    return dir
}

/// Options for tests: a small map so growth is exercised, quiet logs collected for assertions.
func testOptions(initialMap: Int = 1 << 20, log: LogSink? = nil) -> CacheOptions {
    var o = CacheOptions()
    o.initialMapSize = initialMap
    o.batchItems = 16
    o.batchMilliseconds = 20
    if let log { o.log = { log.append($0) } }
    return o
}

final class LogSink: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ s: String) { lock.withLock { lines.append(s) } }
    var all: [String] { lock.withLock { lines } }
}

struct TestRNG {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Float { Float(next() >> 40) / Float(1 << 24) }
    mutating func gaussian() -> Float {
        let u1 = max(uniform(), 1e-7), u2 = uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}

/// Smooth features plus noise, like a network's feature map.
func featureTensor(channels: Int, height: Int, width: Int, seed: UInt64) -> CacheTensor {
    var rng = TestRNG(seed)
    var v = [Float](repeating: 0, count: channels * height * width)
    for c in 0..<channels {
        let fx = Float(c % 7 + 1) * 0.05, fy = Float(c % 5 + 1) * 0.07, phase = Float(c) * 0.3
        for y in 0..<height {
            for x in 0..<width {
                v[(c * height + y) * width + x] = sin(Float(x) * fx + phase) * cos(Float(y) * fy) + 0.05 * rng.gaussian()
            }
        }
    }
    return CacheTensor(shape: [channels, height, width], floats: v)
}

/// Runs an executable and returns (status, stdout followed by stderr); a missing tool is an error
/// naming it, so a machine without lmdb-utils fails loudly instead of skipping.
func runTool(_ path: String, _ arguments: [String]) throws -> (Int32, String) {
    guard FileManager.default.isExecutableFile(atPath: path) else {
        throw CacheError.invalidArgument("required tool \(path) is missing (install lmdb-utils)")
    }
    let result = try runProcess(URL(fileURLWithPath: path), arguments)
    return (result.status, result.stdout + result.stderr)
}

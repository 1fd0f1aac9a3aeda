import XCTest
@testable import StageCache

final class StageKeyTests: XCTestCase {
    static let weights = Digest(hex: String(repeating: "ab", count: 32))!
    static let input = Digest(hex: String(repeating: "01", count: 32))!

    static var goldenKey: StageKey {
        StageKey(stage: "memory_encode", version: 3, weightsDigest: weights,
                 parameters: ["alpha": .float(0.5), "iterations": .int(2), "mode": .string("disc"),
                              "calibrate": .bool(true),
                              "sizes": .list([.int(512), .int(40)]),
                              "norm": .map(["eps": .float(1e-6), "kind": .string("l2")])],
                 inputs: ["features": input, "mask": Digest.sha256(Array("mask".utf8))])
    }

    /// Written once (and cross-checked for the minimal key with an independent Python encoder);
    /// an accidental change of the encoding fails here.
    func testGoldenKeyVector() throws {
        XCTAssertEqual(Self.goldenKey.digest.hex, "cc67b06056859ce541d49b10ad636eea3fadc6ffe3410c4d0929bda7ba56e6f2")
        let minimal = StageKey(stage: "decode", version: 1)
        XCTAssertEqual(minimal.digest.hex, "f97176ab1aaa0998962772e986806b5b2a768758be810b08667be09d835e9f5d")
        XCTAssertEqual(Array(minimal.preimage.prefix(10)), Array("FSSAMKEY".utf8) + [1, 0])
    }

    func testFloatsAreKeyedByBits() {
        let zero = StageKey(stage: "s", version: 1, parameters: ["t": .float(0.0)])
        let negativeZero = StageKey(stage: "s", version: 1, parameters: ["t": .float(-0.0)])
        XCTAssertNotEqual(zero.digest, negativeZero.digest)
        let nan1 = StageKey(stage: "s", version: 1, parameters: ["t": .float(Double(bitPattern: 0x7ff8_0000_0000_0001))])
        let nan2 = StageKey(stage: "s", version: 1, parameters: ["t": .float(Double(bitPattern: 0x7ff8_0000_0000_0002))])
        XCTAssertNotEqual(nan1.digest, nan2.digest)
        // An integer and the same number as a float are different parameters.
        XCTAssertNotEqual(StageKey(stage: "s", version: 1, parameters: ["t": .int(1)]).digest,
                          StageKey(stage: "s", version: 1, parameters: ["t": .float(1)]).digest)
    }

    func testMapOrderDoesNotMatter() {
        var a: [String: ParameterValue] = [:]
        var b: [String: ParameterValue] = [:]
        let names = (0..<50).map { "p\($0)" } + ["é", "z", "Z", "a"]
        for (i, n) in names.enumerated() { a[n] = .int(Int64(i)) }
        for (i, n) in names.enumerated().reversed() { b[n] = .int(Int64(i)) }
        XCTAssertEqual(StageKey(stage: "s", version: 1, parameters: a).digest,
                       StageKey(stage: "s", version: 1, parameters: b).digest)
        // But list order does.
        XCTAssertNotEqual(StageKey(stage: "s", version: 1, parameters: ["l": .list([1, 2])]).digest,
                          StageKey(stage: "s", version: 1, parameters: ["l": .list([2, 1])]).digest)
    }

    func testEveryFieldChangesTheKey() {
        let base = Self.goldenKey
        var variants: [StageKey] = []
        var k = base; k.stage = "imr"; variants.append(k)
        k = base; k.version = 4; variants.append(k)
        k = base; k.weightsDigest = nil; variants.append(k)
        k = base; k.parameters["iterations"] = .int(3); variants.append(k)
        k = base; k.inputs["features"] = Digest.sha256([1]); variants.append(k)
        k = base; k.inputs["extra"] = Digest.sha256([1]); variants.append(k)
        let digests = Set(variants.map(\.digest) + [base.digest])
        XCTAssertEqual(digests.count, variants.count + 1)
        // Length prefixes keep field boundaries: "ab"+"c" differs from "a"+"bc".
        XCTAssertNotEqual(StageKey(stage: "s", version: 1, parameters: ["ab": "c"]).digest,
                          StageKey(stage: "s", version: 1, parameters: ["a": "bc"]).digest)
    }

    func testPreimageDecodesAndExplains() throws {
        let key = Self.goldenKey
        let decoded = try StageKey(preimage: key.preimage)
        XCTAssertEqual(decoded, key)
        let text = decoded.explanation
        XCTAssertTrue(text.contains("stage:    memory_encode"))
        XCTAssertTrue(text.contains("iterations = 2"))
        XCTAssertTrue(text.contains("features = " + Self.input.hex))
        XCTAssertTrue(text.contains(Self.weights.hex))
        var bad = key.preimage; bad[0] ^= 1
        XCTAssertThrowsError(try StageKey(preimage: bad))
        XCTAssertThrowsError(try StageKey(preimage: Array(key.preimage.dropLast(3))))
        var newer = key.preimage; newer[8] = 9
        XCTAssertThrowsError(try StageKey(preimage: newer)) { XCTAssertTrue("\($0)".contains("version 9")) }
    }
}

import FixtureSupport
import Foundation
import XCTest
import Checkpoint
import Tensor

final class SafetensorsWriterTests: XCTestCase {
    func testRoundTripHeaderLayoutAndMetadata() throws {
        let a = Tensor(shape: [2, 3], storage: [0.5, -1.25, 3, 1e-3, -0, 65504])
        let b = Tensor(shape: [], storage: [3.25])
        let c = Tensor(shape: [0, 4], storage: [])
        let quoted = Tensor(shape: [1], storage: [.infinity])
        let path = try TorchFileBuilder.write([], name: "roundtrip.safetensors")
        try SafetensorsWriter.write([("z.weight", a), ("a.scalar", b), ("m.empty", c), ("odd \"name\"\\é", quoted)],
                                    metadata: ["format": "pt", "source": "test"], to: path)

        let file = try SafetensorsFile(path: path)
        XCTAssertEqual(file.metadata, ["format": "pt", "source": "test"])
        // Data in sorted-name order.
        XCTAssertEqual(file.names, ["a.scalar", "m.empty", "odd \"name\"\\é", "z.weight"])
        XCTAssertEqual(try file.tensor("z.weight"), a)
        XCTAssertEqual(try file.tensor("a.scalar"), b)
        XCTAssertEqual(try file.tensor("m.empty").shape, [0, 4])
        XCTAssertEqual(try file.tensor("odd \"name\"\\é").storage, [.infinity])
        XCTAssertEqual(try file.rawBytes("z.weight").count, 24)
        XCTAssertEqual(file.entry("z.weight")?.dtype, .f32)

        // Header: u64 length, a multiple of 8, JSON starting with __metadata__ and padded with spaces.
        let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
        let length = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        XCTAssertEqual(length % 8, 0)
        let header = String(decoding: bytes[8..<(8 + length)], as: UTF8.self)
        XCTAssertTrue(header.hasPrefix("{\"__metadata__\":{\"format\":\"pt\",\"source\":\"test\"},\"a.scalar\":"), header)
        XCTAssertTrue(header.hasSuffix("}") || header.hasSuffix(" "))
        XCTAssertEqual(header.trimmingCharacters(in: .whitespaces).last, "}")
        XCTAssertEqual(bytes.count, 8 + length + 4 * (6 + 1 + 0 + 1))
        // No partial file is left behind.
        let dir = (path as NSString).deletingLastPathComponent
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: dir).contains { $0.contains(".partial-") })
    }

    func testRejectsDuplicateAndReservedNames() throws {
        let path = try TorchFileBuilder.write([], name: "bad.safetensors")
        let t = Tensor(shape: [1], storage: [1])
        XCTAssertThrowsError(try SafetensorsWriter.write([("x", t), ("x", t)], to: path)) { XCTAssertTrue("\($0)".contains("'x' given twice")) }
        XCTAssertThrowsError(try SafetensorsWriter.write([("__metadata__", t)], to: path))
    }

    func testWritesStateDictOfSyntheticWeights() throws {
        let dict = try SyntheticWeights().generate(DINOv2Keys.specs(.small).filter { $0.name.hasPrefix("blocks.0.") || !$0.name.hasPrefix("blocks.") })
        let path = try TorchFileBuilder.write([], name: "synthetic.safetensors")
        try SafetensorsWriter.write(dict, metadata: ["weights": "fssam-synth-v1"], to: path)
        let file = try SafetensorsFile(path: path)
        XCTAssertEqual(Set(file.names), Set(dict.keys))
        for key in dict.keys { XCTAssertEqual(try file.tensor(key), dict[key], key) }
    }
}

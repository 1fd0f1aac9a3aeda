import Foundation
import XCTest
import FixtureSupport

/// Runs the built `fssam` binary (it sits next to the test bundle in the build folder).
final class WeightsCommandTests: XCTestCase {
    /// Output and error streams together: the assertions look for messages in either.
    private func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let result = try runProcess(BuiltProducts.executable("fssam"), arguments)
        return (result.status, result.stdout + result.stderr)
    }

    private func temporary(_ name: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fssam-cli-tests-\(ProcessInfo.processInfo.processIdentifier)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent(name).path
        try? FileManager.default.removeItem(atPath: path)
        return path
    }

    func testInspectSampleAsTextAndJSON() throws {
        let sample = Fixtures.path("checkpoint-sample.pt")
        XCTAssertTrue(FileManager.default.fileExists(atPath: sample), "fixture missing: \(sample)")
        let text = try run(["weights", "inspect", sample])
        XCTAssertEqual(text.status, 0, text.output)
        XCTAssertTrue(text.output.contains("state dict under 'model'"), text.output)
        XCTAssertTrue(text.output.contains("BF16  [2,2]  module.sam2.bf16"), text.output)
        XCTAssertTrue(text.output.contains("parameters: 87"), text.output)

        let json = try run(["weights", "inspect", "--json", sample])
        XCTAssertEqual(json.status, 0, json.output)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any])
        XCTAssertEqual(report["parameter_count"] as? Int, 87)
        XCTAssertEqual(report["container"] as? String, "model")
        let models = try XCTUnwrap(report["models"] as? [[String: Any]])
        XCTAssertEqual(models.map { $0["family"] as? String }, ["sam2", "dinov2"])
        XCTAssertEqual(models.map { $0["source_prefix"] as? String }, ["module.sam2.", "module.dino."])
        XCTAssertTrue(models[0]["architecture"] is NSNull)
        let tensors = try XCTUnwrap(report["tensors"] as? [[String: Any]])
        XCTAssertEqual(tensors.count, 12)
        XCTAssertEqual(tensors.first { $0["name"] as? String == "module.sam2.shared_t" }?["shape"] as? [Int], [6, 4])
    }

    func testConvertRoutedAndAsIs() throws {
        let sample = Fixtures.path("checkpoint-sample.pt")
        let routed = try temporary("routed.safetensors")
        let result = try run(["weights", "convert", sample, routed])
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("routed with prefixes"), result.output)
        let inspect = try run(["weights", "inspect", "--json", routed])
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(inspect.output.utf8)) as? [String: Any])
        let names = (report["tensors"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
        XCTAssertEqual(names?.sorted(), ["dino.bias", "dino.weight", "sam2.bf16", "sam2.bias", "sam2.count", "sam2.flag", "sam2.fp16",
                                         "sam2.scalar", "sam2.shared_base", "sam2.shared_slice", "sam2.shared_t", "sam2.weight"])
        XCTAssertEqual(report["dtypes"] as? [String: Int], ["F32": 12])
        let models = try XCTUnwrap(report["models"] as? [[String: Any]])
        XCTAssertEqual(models.map { $0["source_prefix"] as? String }, ["sam2.", "dino."])

        let asIs = try temporary("as-is.safetensors")
        let second = try run(["weights", "convert", "--layout", "as-is", sample, asIs])
        XCTAssertEqual(second.status, 0, second.output)
        XCTAssertTrue(second.output.contains("keys as in the input"), second.output)
        let inspectAsIs = try run(["weights", "inspect", asIs])
        XCTAssertTrue(inspectAsIs.output.contains("F32   [6,4]  module.sam2.shared_t"), inspectAsIs.output)

        // An existing output is not replaced without --force; a non-safetensors output is refused.
        let again = try run(["weights", "convert", sample, routed])
        XCTAssertNotEqual(again.status, 0)
        XCTAssertTrue(again.output.contains("--force"), again.output)
        XCTAssertNotEqual(try run(["weights", "convert", sample, try temporary("out.bin")]).status, 0)
    }

    func testInspectSyntheticAndRefusesBadFiles() throws {
        let synthetic = try run(["weights", "inspect", "synthetic"])
        XCTAssertEqual(synthetic.status, 0, synthetic.output)
        XCTAssertTrue(synthetic.output.contains("architecture sam2_hiera_s (keys and shapes match exactly)"), synthetic.output)
        XCTAssertTrue(synthetic.output.contains("architecture dinov2_vitb14 (keys and shapes match exactly)"), synthetic.output)
        XCTAssertTrue(synthetic.output.contains("parameters: 132,624,578"), synthetic.output)

        let garbage = try temporary("garbage.pt")
        try Data(("PK\u{3}\u{4}" + String(repeating: " not really a zip", count: 8)).utf8).write(to: URL(fileURLWithPath: garbage))
        let refused = try run(["weights", "inspect", garbage])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.output.contains("end-of-central-directory"), refused.output)
    }
}

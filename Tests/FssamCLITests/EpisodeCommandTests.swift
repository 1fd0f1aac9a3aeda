import XCTest
import Checkpoint
import FixtureSupport
import Pipeline

/// `fssam episode` end to end: the real binary on PNG files made from the fixture inputs, with the
/// synthetic weights the fixtures were recorded with.
final class EpisodeCommandTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fssam-episode-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// Writes the fixture's query, support image and support label as PNG files.
    func writeInputs() throws -> SafetensorsFile {
        let file = try SafetensorsFile(path: Fixtures.path("fssam-1shot.safetensors"))
        try AtomicFile.write(try ImageEncoder.png(width: 512, height: 512, bands: 3, pixels: file.uint8("in.qry_img")), to: path("query.png"))
        try AtomicFile.write(try ImageEncoder.png(width: 512, height: 512, bands: 3, pixels: file.uint8("in.sup0_img")), to: path("support.png"))
        try AtomicFile.write(try ImageEncoder.png(width: 512, height: 512, bands: 1, pixels: file.uint8("in.sup0_label")), to: path("support-label.png"))
        return file
    }

    func fssam(_ arguments: [String]) throws -> ProcessResult {
        try runProcess(BuiltProducts.executable("fssam"), arguments)
    }

    func testOneShotMaskMatchesTheReferenceAndDumpUsesFixtureNames() throws {
        let fixture = try writeInputs()
        let result = try fssam(["episode", "--support", path("support.png"), path("support-label.png"), "--ignore-value", "255",
                                "--query", path("query.png"), "--out", path("mask.png"), "--weights", "synthetic",
                                "--dump", path("dump"), "--timings"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("dino_features"), "timings missing: \(result.stdout)")

        let mask = try ImageDecoder().decodeLabelFile(path("mask.png"))
        XCTAssertEqual(mask.width, 512)
        XCTAssertEqual(Set(mask.values), [0, 255])
        let reference = try fixture.tensor("out.logits").storage
        var disagreements = 0
        for (value, logit) in zip(mask.values, reference) where abs(logit) > 1e-4 {
            if (value == 255) != (logit >= 0) { disagreements += 1 }
        }
        XCTAssertEqual(disagreements, 0)

        let dump = try SafetensorsFile(path: path("dump/intermediates.safetensors"))
        for name in ["dino.feat.qry", "prior.ae_512", "mem.sup.feat", "imr.2.ae_mem_out", "ma.out", "out.logits"] {
            let ours = try dump.tensor(name), theirs = try fixture.tensor(name)
            XCTAssertEqual(ours.shape, theirs.shape, name)
            let worst = zip(ours.storage, theirs.storage).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThanOrEqual(worst, 1e-3, name)
        }
    }

    /// The same weights through each loading route give the same mask, byte for byte: a combined
    /// checkpoint file (as the authors' fine-tuned one) and separate SAM 2 / DINOv2 files.
    func testCheckpointFilesGiveTheSameMaskAsGeneratedWeights() throws {
        _ = try writeInputs()
        let convert = try fssam(["weights", "convert", "synthetic", path("both.safetensors")])
        XCTAssertEqual(convert.status, 0, convert.stderr)
        let common = ["episode", "--support", path("support.png"), path("support-label.png"), "--ignore-value", "255",
                      "--query", path("query.png")]
        var masks: [[UInt8]] = []
        for (name, source) in [("generated", ["--weights", "synthetic"]),
                               ("checkpoint", ["--checkpoint", path("both.safetensors")]),
                               ("separate", ["--sam2", path("both.safetensors"), "--dino", path("both.safetensors")])] {
            let result = try fssam(common + ["--out", path("\(name).png")] + source)
            XCTAssertEqual(result.status, 0, "\(name): \(result.stderr)")
            masks.append(Array(try Data(contentsOf: directory.appendingPathComponent("\(name).png"))))
        }
        XCTAssertEqual(masks[0], masks[1])
        XCTAssertEqual(masks[0], masks[2])
        let conflicting = try fssam(common + ["--out", path("x.png"), "--weights", "synthetic", "--checkpoint", path("both.safetensors")])
        XCTAssertNotEqual(conflicting.status, 0)
        XCTAssertTrue(conflicting.stderr.contains("exactly one weight source"), conflicting.stderr)
    }

    func testSupportProblemsStopBeforeAnyWork() throws {
        _ = try writeInputs()
        // A mask of the wrong size.
        try AtomicFile.write(try ImageEncoder.png(width: 20, height: 10, bands: 1, pixels: [UInt8](repeating: 1, count: 200)), to: path("small.png"))
        var result = try fssam(["episode", "--support", path("support.png"), path("small.png"), "--query", path("query.png"),
                                "--out", path("mask.png"), "--weights", "synthetic"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("small.png") && result.stderr.contains("20x10 but its image is 512x512"), result.stderr)
        // A mask with no target pixel.
        try AtomicFile.write(try ImageEncoder.png(width: 512, height: 512, bands: 1, pixels: [UInt8](repeating: 0, count: 512 * 512)), to: path("empty.png"))
        result = try fssam(["episode", "--support", path("support.png"), path("empty.png"), "--query", path("query.png"),
                            "--out", path("mask.png"), "--weights", "synthetic"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("empty.png") && result.stderr.contains("no target pixel"), result.stderr)
        // An odd number of --support values, and an unknown calibration.
        result = try fssam(["episode", "--support", path("support.png"), "--query", path("query.png"), "--out", path("mask.png"),
                            "--weights", "synthetic"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("image and its mask"), result.stderr)
        result = try fssam(["episode", "--support", path("support.png"), path("support-label.png"), "--query", path("query.png"),
                            "--out", path("mask.png"), "--weights", "synthetic", "--calibration", "magic"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("released, paper"), result.stderr)
        // A query that is not an image.
        try AtomicFile.write(Array("hello".utf8), to: path("text.png"))
        result = try fssam(["episode", "--support", path("support.png"), path("support-label.png"), "--query", path("text.png"),
                            "--out", path("mask.png"), "--weights", "synthetic"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("text.png") && result.stderr.contains("query image"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("mask.png")), "no output may be written on failure")
    }
}

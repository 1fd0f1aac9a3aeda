import XCTest
import FixtureSupport
import Pipeline

/// `fssam demo` generates its data, segments it, reruns it from the cache with every stage a hit;
/// `fssam explain` then shows each stage's key and status, computing nothing.
final class DemoExplainTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fssam-demo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    func fssam(_ arguments: [String]) throws -> ProcessResult {
        try runProcess(BuiltProducts.executable("fssam"), arguments)
    }

    func testDemoThenExplain() throws {
        let demo = try fssam(["demo", path("demo"), "--queries", "2"])
        XCTAssertEqual(demo.status, 0, demo.stderr)
        for file in ["out/masks/q0.png.png", "out/masks/q1.png.png", "out/overlays/q0.png.png", "out/predictions.json", "out/results.jsonl",
                     "out/errors.jsonl", "out/run.json", "data/support.png", "data/support-mask.png", "cache/data.mdb"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: path("demo/" + file)), file)
        }
        // A healthy cache verifies clean: done-records name only blobs that are stored (the files
        // they delivered are recorded apart, and checked in --out, not in the cache).
        let verify = try fssam(["cache", "verify", "--cache", path("demo/cache")])
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
        XCTAssertFalse((verify.stdout + verify.stderr).contains("missing"), verify.stdout)

        // The second pass: every query stage hit for both items, nothing computed but the decode.
        let second = try XCTUnwrap(demo.stdout.components(separatedBy: "second run").last)
        for stage in ["dino_features", "sam2_features", "priors", "memory_encode", "scma_prefix", "imr", "scma", "decode_mask"] {
            let row = second.split(separator: "\n").first { $0.contains("query.\(stage) ") }.map(String.init) ?? ""
            XCTAssertEqual(row.split(separator: " ").dropFirst().prefix(2), ["0", "2"], "query.\(stage): \(row)")
        }

        let common = ["--support", path("demo/data/support.png"), path("demo/data/support-mask.png"),
                      "--queries", path("demo/data/queries"), "--cache", path("demo/cache"), "--weights", "synthetic", "--json"]
        let explained = try fssam(["explain", "q1.png"] + common)
        XCTAssertEqual(explained.status, 0, explained.stderr)
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(explained.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(report["done"] as? String, "succeeded")
        XCTAssertTrue(report["stopped_at"] is NSNull, explained.stdout)
        let stages = try XCTUnwrap(report["stages"] as? [[String: Any]])
        XCTAssertEqual(stages.map { "\($0["side"]!).\($0["stage"]!)" },
                       ["support.dino_features", "support.sam2_features", "support.memory_encode", "query.dino_features",
                        "query.priors", "query.sam2_features", "query.memory_encode", "query.imr", "query.scma_prefix", "query.scma",
                        "query.decode_mask"])
        for stage in stages {
            let expected = (stage["persisted"] as? Bool) == true ? "hit" : "digest-only"
            XCTAssertEqual(stage["status"] as? String, expected, "\(stage)")
            if expected == "hit" { XCTAssertGreaterThan(stage["stored_bytes"] as? Int ?? 0, 0) }
        }
        let imr = try XCTUnwrap(stages.first { $0["stage"] as? String == "imr" })
        XCTAssertEqual((imr["parameters"] as? [String: String])?["iterations"], "3")
        XCTAssertEqual(Set((imr["inputs"] as? [String: String] ?? [:]).keys), ["memory", "priors", "support_mask", "support_memory"])

        // Re-tuned IMR: everything upstream still hits, IMR is the first miss.
        let retuned = try fssam(["explain", "q1.png", "--set", "imr.iterations=1"] + common)
        XCTAssertEqual(retuned.status, 0, retuned.stderr)
        let retunedReport = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(retuned.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(retunedReport["stopped_at"] as? String, "imr")
        XCTAssertTrue(retunedReport["done"] is NSNull)
        XCTAssertEqual((retunedReport["stages"] as? [[String: Any]])?.last?["status"] as? String, "miss")

        let unknown = try fssam(["explain", "nope.png"] + common)
        XCTAssertEqual(unknown.status, 1)
        XCTAssertTrue(unknown.stderr.contains("nope.png: no such item"), unknown.stderr)
    }
}

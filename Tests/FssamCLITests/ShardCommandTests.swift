import XCTest
import FixtureSupport
import Pipeline

/// Sharded `fssam run` end to end with the real binary and synthetic weights: supports prepared
/// once and copied to each shard's cache, shards selected by --shard, Slurm's and Kubernetes'
/// environment, status and merge — and the merged result is the unsharded run's, byte for byte.
final class ShardCommandTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fssam-shardcmd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    func fssam(_ arguments: [String], environment: [String: String]? = nil) throws -> ProcessResult {
        try runProcess(BuiltProducts.executable("fssam"), arguments, environment: environment)
    }

    func read(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path(name)))) }

    func files(under name: String) throws -> [String] {
        (FileManager.default.enumerator(atPath: path(name))?.allObjects as? [String] ?? [])
            .filter { !$0.hasPrefix("shards") && !$0.hasPrefix(".") && !FileManager.default.fileExists(atPath: path(name + "/" + $0) + "/.") }
            .sorted()
    }

    /// `results.jsonl` without the per-item `seconds` (a duration: the one field that differs between runs).
    func comparableResults(_ name: String) throws -> String {
        String(decoding: try read(name), as: UTF8.self)
            .replacingOccurrences(of: #""seconds":[0-9.e-]+"#, with: "", options: .regularExpression)
    }

    func makeDataset() throws {
        var image = [UInt8](repeating: 0, count: 40 * 40 * 3)
        for i in image.indices { image[i] = UInt8((i * 5 + i / 120) % 241) }
        var mask = [UInt8](repeating: 0, count: 40 * 40)
        for row in 5..<25 { for col in 10..<30 { mask[row * 40 + col] = 255 } }
        try AtomicFile.write(try ImageEncoder.png(width: 40, height: 40, bands: 3, pixels: image), to: path("support.png"))
        try AtomicFile.write(try ImageEncoder.png(width: 40, height: 40, bands: 1, pixels: mask), to: path("support-mask.png"))
        for q in 0..<4 {
            let pixels = image.indices.map { UInt8((Int(image[$0]) + 61 * q + $0 % 7) % 256) }
            try AtomicFile.write(try ImageEncoder.png(width: 40, height: 40, bands: 3, pixels: pixels),
                                 to: path("queries/\(q % 2 == 0 ? "a/" : "")q\(q).png"))
        }
        try AtomicFile.write(Array("not an image".utf8), to: path("queries/broken.jpg"))
    }

    var supportArguments: [String] { ["--support", path("support.png"), path("support-mask.png"), "--weights", "synthetic"] }

    func run(out: String, cache: String, _ extra: [String] = [], environment: [String: String]? = nil) throws -> ProcessResult {
        try fssam(["run"] + supportArguments + ["--queries", path("queries"), "--out", path(out), "--cache", path(cache)] + extra,
                  environment: environment)
    }

    /// The (computed, hits) of a "  support.dino_features  computed  hits" row of the run summary;
    /// the summary leaves out stages that never ran (a shard with no image never needs the supports).
    func counts(_ stage: String, in summary: String) -> (computed: Int, hits: Int) {
        for line in summary.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.first.map(String.init) == stage, fields.count >= 3 { return (Int(fields[1]) ?? -1, Int(fields[2]) ?? -1) }
        }
        return (0, 0)
    }

    func testShardedRunOnAPreparedCacheMergesToTheUnshardedResult() throws {
        try makeDataset()
        let single = try run(out: "single", cache: "single-cache")
        XCTAssertEqual(single.status, 2, "broken.jpg fails: \(single.stderr)")
        XCTAssertTrue(single.stdout.contains(": 4 ok, 1 failed, 0 skipped as done"), single.stdout)

        let prepared = try fssam(["prepare"] + supportArguments + ["--cache", path("prepared")])
        XCTAssertEqual(prepared.status, 0, prepared.stderr)
        XCTAssertTrue(prepared.stdout.contains("support.sam2_features: computed 1, hits 0"), prepared.stdout)
        let copy = try fssam(["cache", "copy", "--cache", path("prepared"), path("distributed")])
        XCTAssertEqual(copy.status, 0, copy.stderr)

        // Three shards, three ways of being told which: --shard, a Slurm array task, an Indexed Job pod.
        let ways: [(extra: [String], environment: [String: String]?)] = [
            (["--shard", "0/3"], nil),
            ([], ["SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "2"]),
            (["--shard-count", "3"], ["JOB_COMPLETION_INDEX": "2"]),
        ]
        var supportHits = 0
        for (i, way) in ways.enumerated() {
            if i == 2 {
                let status = try fssam(["status", "--out", path("sharded")])
                XCTAssertEqual(status.status, 2, status.stderr)
                XCTAssertTrue(status.stdout.contains("2-of-3   missing"), status.stdout)
                XCTAssertTrue(status.stdout.hasSuffix("resubmit: --array=2\n"), status.stdout)
                let refused = try fssam(["merge", "--out", path("sharded")])
                XCTAssertEqual(refused.status, 1)
                XCTAssertTrue(refused.stderr.contains("incomplete: 1 of 3 shard(s) not finished"), refused.stderr)
                XCTAssertTrue(refused.stderr.contains("resubmit --array=2"), refused.stderr)
            }
            // Each node gets its own copy of the prepared cache (LMDB: one env per process, on local disk).
            try FileManager.default.copyItem(atPath: path("distributed"), toPath: path("node\(i)"))
            let shard = try run(out: "sharded", cache: "node\(i)", way.extra, environment: way.environment)
            XCTAssertTrue([0, 2].contains(shard.status), shard.stderr)
            for stage in ["dino_features", "sam2_features", "memory_encode"] {
                XCTAssertEqual(counts("support.\(stage)", in: shard.stdout).computed, 0, "shard \(i) encoded no support: \(shard.stdout)")
                supportHits += counts("support.\(stage)", in: shard.stdout).hits
            }
            XCTAssertTrue(FileManager.default.fileExists(atPath: path("sharded/shards/\(i)-of-3/run.json")))
        }
        XCTAssertGreaterThanOrEqual(supportHits, 3, "the shards with images took the supports from the prepared cache")
        let status = try fssam(["status", "--out", path("sharded"), "--json"])
        XCTAssertEqual(status.status, 0, status.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(json?["complete"] as? Bool, true, status.stdout)
        XCTAssertEqual(json?["missing"] as? [Int], [], status.stdout)
        XCTAssertEqual((((json?["done"] as? [Int]) ?? []) + ((json?["failed"] as? [Int]) ?? [])).sorted(), [0, 1, 2], status.stdout)

        let merged = try fssam(["merge", "--out", path("sharded")])
        XCTAssertEqual(merged.status, 0, merged.stderr)
        XCTAssertTrue(merged.stdout.contains("4 ok, 1 failed;"), merged.stdout)
        XCTAssertEqual(try files(under: "sharded"), try files(under: "single"))
        for file in try files(under: "single") where file != "results.jsonl" {
            XCTAssertEqual(try read("sharded/" + file), try read("single/" + file), file)
        }
        XCTAssertEqual(try comparableResults("sharded/results.jsonl"), try comparableResults("single/results.jsonl"))
        XCTAssertFalse(String(decoding: try read("sharded/run.json"), as: UTF8.self).contains("\"shard\""))

        // A resubmitted shard skips its done items and leaves the merge unchanged.
        let again = try run(out: "sharded", cache: "node1", ["--shard", "1/3"])
        XCTAssertTrue(again.stdout.contains(" 0 ok, "), again.stdout)
        XCTAssertEqual(try fssam(["merge", "--out", path("sharded")]).status, 0)
        for file in try files(under: "single") where file.hasPrefix("masks/") || file == "errors.jsonl" {
            XCTAssertEqual(try read("sharded/" + file), try read("single/" + file), file)
        }
    }

    func testBadShardOptionsAreRefusedBeforeAnyWork() throws {
        try makeDataset()
        let cases: [([String], [String: String]?, String)] = [
            (["--shard", "4/4"], nil, "--shard 4/4: the shard index must be in 0..<4"),
            (["--shard", "0/0"], nil, "--shard 0/0: the shard count must be 1…100000"),
            (["--shard", "x/3"], nil, "--shard x/3: shard index 'x' is not an integer"),
            ([], ["SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": ""], "$SLURM_ARRAY_TASK_ID=1: no shard count: pass --shard-count N"),
            ([], ["JOB_COMPLETION_INDEX": "0"], "$JOB_COMPLETION_INDEX=0: no shard count"),
        ]
        for (extra, environment, message) in cases {
            let result = try run(out: "out", cache: "cache", extra, environment: environment)
            XCTAssertEqual(result.status, 1, "\(extra)")
            XCTAssertTrue(result.stderr.contains(message), "\(extra) \(environment ?? [:]): \(result.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: path("cache/data.mdb")), "refused before opening the cache")
        }
    }
}

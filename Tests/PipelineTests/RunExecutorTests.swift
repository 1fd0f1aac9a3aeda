import XCTest
import Checkpoint
import Models
import Pipeline
@testable import StageCache
import Tensor

/// `RunExecutor` on synthetic weights and a generated dataset: what each run computes (counters),
/// that a repeat computes nothing and writes the same bytes, that a re-tune reuses everything
/// upstream of IMR and still gives the masks of an uncached forward pass, and that a bad file is
/// one error line, not a stopped run.
final class RunExecutorTests: XCTestCase {
    /// Built once for the class: constructing the model from ~530 MB of weights takes seconds.
    nonisolated(unsafe) static var shared: (model: FSSAM, digests: StageWeightDigests)?

    static func model() throws -> (model: FSSAM, digests: StageWeightDigests) {
        if let shared { return shared }
        let sam2 = try SyntheticWeights().sam2(.small)
        let dino = try SyntheticWeights().dinov2(.base)
        let built = (try FSSAM(sam2: sam2, dino: dino), try StageWeightDigests(sam2: sam2, dino: dino))
        shared = built
        return built
    }

    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fssam-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// A 64×64 RGB image with a bright square at (x, y) on a gradient, so supports and queries differ.
    func writeImage(_ name: String, squareAt x: Int, _ y: Int, seed: Int) throws {
        var pixels = [UInt8](repeating: 0, count: 64 * 64 * 3)
        for row in 0..<64 {
            for col in 0..<64 {
                let inside = (x..<x + 24).contains(col) && (y..<y + 24).contains(row)
                for c in 0..<3 {
                    pixels[(row * 64 + col) * 3 + c] = inside ? UInt8(200 + 20 * c) : UInt8((row * 3 + col * 2 + seed * 37 + c * 50) % 160)
                }
            }
        }
        try AtomicFile.write(try ImageEncoder.png(width: 64, height: 64, bands: 3, pixels: pixels), to: path(name))
    }

    /// One support (image + 0/255 mask of its square) and `queries` query images under `queries/`.
    func makeDataset(queries: Int) throws -> [Episode.SupportFiles] {
        try writeImage("support.png", squareAt: 10, 12, seed: 0)
        var mask = [UInt8](repeating: 0, count: 64 * 64)
        for row in 12..<36 { for col in 10..<34 { mask[row * 64 + col] = 255 } }
        try AtomicFile.write(try ImageEncoder.png(width: 64, height: 64, bands: 1, pixels: mask), to: path("support-mask.png"))
        for i in 0..<queries { try writeImage("queries/q\(i).png", squareAt: 8 + 12 * i, 30 - 8 * i, seed: i + 1) }
        return [Episode.SupportFiles(image: path("support.png"), mask: path("support-mask.png"))]
    }

    func run(supports: [Episode.SupportFiles], out: String, cache: String, set overrides: [String] = [],
             pipeline: PipelineDefinition? = nil, maxPixels: Int = ImageDecoder.defaultMaxPixels) async throws -> RunSummary {
        let (model, digests) = try Self.model()
        let store = try CacheStore(directory: cache)
        let parameters = try RunParameters(pipeline: pipeline, overrides: try overrides.map { try PipelineOverride.parse($0) })
        let executor = try RunExecutor(model: model, weights: digests, store: store,
                                       configuration: RunConfiguration(supports: supports, parameters: parameters, outputDirectory: out,
                                                                       maxPixels: maxPixels))
        let summary = try await executor.run(DirectoryListing(root: path("queries")))
        try await store.flushAndClose()
        return summary
    }

    /// The masks a run wrote for `queries/q0…` equal FSSAM's own whole forward pass, no cache.
    func assertMasksEqualUncachedForward(queries: Int, supports: [Episode.SupportFiles], refineIterations: Int, in out: String,
                                         file: StaticString = #filePath, line: UInt = #line) throws {
        let (model, _) = try Self.model()
        let prepared = try model.prepare(supports: try Episode.load(query: path("queries/q0.png"), supports: supports,
                                                                    ignoreValue: nil).supports)
        for i in 0..<queries {
            let episode = try Episode.load(query: path("queries/q\(i).png"), supports: supports, ignoreValue: nil)
            let output = try model(query: episode.query, supports: prepared, options: FSSAM.Options(refineIterations: refineIterations))
            let mask = MaskPostprocessing.binaryMask(logits: output.logits, height: 64, width: 64)
            let expected = try ImageEncoder.png(width: 64, height: 64, bands: 1, pixels: mask.map { $0 == 0 ? 0 : 255 })
            let got = Array(try Data(contentsOf: URL(fileURLWithPath: out + "/masks/q\(i).png.png")))
            XCTAssertEqual(got, expected, "q\(i): the cached run must equal an uncached forward pass", file: file, line: line)
        }
    }

    /// Every file under `folder` by relative path; hidden ones (the lock, the owner file) only when asked.
    func files(under folder: String, hidden: Bool = false) throws -> [String: [UInt8]] {
        var out: [String: [UInt8]] = [:]
        let enumerator = FileManager.default.enumerator(atPath: folder)!
        while let name = enumerator.nextObject() as? String {
            if !hidden && name.split(separator: "/").contains(where: { $0.hasPrefix(".") }) { continue }
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: folder + "/" + name, isDirectory: &isDirectory), !isDirectory.boolValue {
                out[name] = Array(try Data(contentsOf: URL(fileURLWithPath: folder + "/" + name)))
            }
        }
        return out
    }

    let modelStages = ["dino_features", "sam2_features", "priors", "memory_encode", "scma_prefix", "imr", "scma", "decode_mask"]

    func testSecondRunComputesNothingAndWritesTheSameBytes() async throws {
        let supports = try makeDataset(queries: 3)
        let first = try await run(supports: supports, out: path("out1"), cache: path("cache"))
        XCTAssertEqual(first.succeeded, 3)
        XCTAssertEqual(first.failed, 0)
        XCTAssertEqual(first.skippedAsDone, 0)
        for stage in ["dino_features", "sam2_features", "memory_encode"] {
            XCTAssertEqual(first.counters.computed(stage, .support), 1, "support \(stage)")
        }
        for stage in modelStages + ["decode"] {
            XCTAssertEqual(first.counters.computed(stage, .query), 3, "query \(stage)")
        }
        XCTAssertEqual(first.counters.hits.values.reduce(0, +), 0, "a fresh cache has no hits: \(first.counters)")

        // Done in the cache is not delivered to another --out: the second run exports every item
        // again from the cache (no model stage, no query decode: the decode memo stands in).
        let second = try await run(supports: supports, out: path("out2"), cache: path("cache"))
        XCTAssertEqual(second.runID, first.runID)
        XCTAssertEqual(second.skippedAsDone, 0)
        XCTAssertEqual(second.succeeded, 3)
        XCTAssertEqual(second.redelivered, 3)
        XCTAssertEqual(second.counters.totalComputed, second.counters.computed("decode", .support), "\(second.counters)")
        XCTAssertEqual(second.counters.computed("decode", .query), 0)

        let out1 = try files(under: path("out1")), out2 = try files(under: path("out2"))
        XCTAssertEqual(Set(out1.keys), ["masks/q0.png.png", "masks/q1.png.png", "masks/q2.png.png", "results.jsonl",
                                        "errors.jsonl", "predictions.json", "run.json"])
        XCTAssertEqual(out2.keys.sorted(), out1.keys.sorted())
        for name in out1.keys where name != "results.jsonl" { XCTAssertEqual(out2[name], out1[name], name) }
        // results.jsonl: the same items and masks; how each came about (status, seconds, hits) differs.
        func masks(_ results: [UInt8]?) -> [String] {
            String(decoding: results ?? [], as: UTF8.self).split(separator: "\n").map {
                let object = (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] ?? [:]
                return "\(object["id"] ?? "") \(object["mask_sha256"] ?? "")"
            }
        }
        XCTAssertEqual(masks(out2["results.jsonl"]), masks(out1["results.jsonl"]))
        XCTAssertEqual(masks(out1["results.jsonl"]).count, 3)
        XCTAssertEqual(out1["errors.jsonl"], [])
        let lines = String(decoding: out1["results.jsonl"]!, as: UTF8.self).split(separator: "\n")
        XCTAssertEqual(lines.count, 3)
        XCTAssertTrue(lines[0].hasPrefix("{\"id\":\"q0.png\""), String(lines[0]))

        // A repeat into the same --out leaves every mask byte-identical.
        let third = try await run(supports: supports, out: path("out1"), cache: path("cache"))
        XCTAssertEqual(third.skippedAsDone, 3)
        XCTAssertEqual(try files(under: path("out1")), out1)

        // A deleted mask and a changed one are delivered again, from the cache, byte-identical.
        unlink(path("out1/masks/q1.png.png"))
        try AtomicFile.write([1, 2, 3], to: path("out1/masks/q2.png.png"))
        let fourth = try await run(supports: supports, out: path("out1"), cache: path("cache"))
        XCTAssertEqual([fourth.skippedAsDone, fourth.redelivered, fourth.succeeded], [1, 2, 2])
        XCTAssertEqual(fourth.counters.totalComputed, fourth.counters.computed("decode", .support), "\(fourth.counters)")
        let out1Again = try files(under: path("out1"))
        for name in out1.keys where name != "results.jsonl" { XCTAssertEqual(out1Again[name], out1[name], name) }
        XCTAssertEqual(masks(out1Again["results.jsonl"]), masks(out1["results.jsonl"]))

        // Each mask is the query's size, 0/255, with some target and some background.
        let mask = try ImageDecoder().decodeLabelFile(path("out1/masks/q0.png.png"))
        XCTAssertEqual([mask.width, mask.height], [64, 64])
        XCTAssertTrue(mask.values.allSatisfy { $0 == 0 || $0 == 255 })
    }

    func testRetuneRecomputesOnlyIMRAndDownstreamAndMatchesAnUncachedForward() async throws {
        let supports = try makeDataset(queries: 3)
        let first = try await run(supports: supports, out: path("out1"), cache: path("cache"))
        XCTAssertEqual(first.succeeded, 3)

        let retune = try await run(supports: supports, out: path("out2"), cache: path("cache"), set: ["imr.iterations=2"])
        XCTAssertNotEqual(retune.runID, first.runID, "a re-tune is a new run")
        XCTAssertEqual(retune.succeeded, 3)
        XCTAssertEqual(retune.skippedAsDone, 0)
        let c = retune.counters
        // Supports: everything from the cache.
        for stage in ["dino_features", "sam2_features", "memory_encode"] {
            XCTAssertEqual(c.computed(stage, .support), 0, "support \(stage): \(c)")
            XCTAssertEqual(c.hits(stage, .support), 1, "support \(stage): \(c)")
        }
        // Queries: zero encoder computations. DINOv2's digest comes from its memo, the priors,
        // memories and SAM 2 features (read by SCMA and the decoder) from the cache; IMR and what
        // follows it run.
        XCTAssertEqual(c.computed("dino_features", .query), 0, "\(c)")
        XCTAssertEqual(c.computed("priors", .query), 0, "\(c)")
        XCTAssertEqual(c.computed("memory_encode", .query), 0, "\(c)")
        XCTAssertEqual(c.hits("priors", .query), 3)
        XCTAssertEqual(c.hits("memory_encode", .query), 3)
        // SCMA's layer 0 before the refined memory does not depend on IMR: from the cache.
        XCTAssertEqual(c.computed("scma_prefix", .query), 0, "\(c)")
        XCTAssertEqual(c.hits("scma_prefix", .query), 3)
        XCTAssertEqual(c.computed("imr", .query), 3)
        XCTAssertEqual(c.computed("scma", .query), 3)
        XCTAssertEqual(c.computed("decode_mask", .query), 3)
        XCTAssertEqual(c.computed("sam2_features", .query), 0, "\(c)")
        XCTAssertEqual(c.hits("sam2_features", .query), 3)
        // No image is decoded: each file's decode memo gives its model input's digest and size.
        XCTAssertEqual(c.computed("decode", .query), 0, "\(c)")
        XCTAssertEqual(c.hits("decode", .query), 3)

        try assertMasksEqualUncachedForward(queries: 3, supports: supports, refineIterations: 2, in: path("out2"))

        // Back to the default: the first run id again, all done.
        let back = try await run(supports: supports, out: path("out3"), cache: path("cache"))
        XCTAssertEqual(back.runID, first.runID)
        XCTAssertEqual(back.redelivered, 3, "done, and delivered to a new folder from the cache")
        XCTAssertEqual(back.counters.computed("decode_mask", .query), 0)
    }

    /// The decode memo stands in for decoding only while no stage needs the image: with query SAM 2
    /// features not persisted, a re-tune decodes lazily (and matches an uncached forward pass); a
    /// lowered pixel limit still refuses an image its memo describes.
    func testDecodeMemoGivesWayToTheImageWhenAStageNeedsIt() async throws {
        let supports = try makeDataset(queries: 2)
        // A 32×32 support, under the pixel limit the last run sets for the 64×64 queries.
        try AtomicFile.write(try ImageEncoder.png(width: 32, height: 32, bands: 3, pixels: (0..<(32 * 32 * 3)).map { UInt8($0 % 200) }),
                             to: path("support.png"))
        try AtomicFile.write(try ImageEncoder.png(width: 32, height: 32, bands: 1,
                                                  pixels: (0..<(32 * 32)).map { ($0 / 32) % 32 >= 8 && ($0 / 32) < 24 && $0 % 32 >= 8 && $0 % 32 < 24 ? 255 : 0 }),
                             to: path("support-mask.png"))
        let defaultFile = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Pipelines/fssam.yaml").path
        let text = try String(contentsOfFile: defaultFile, encoding: .utf8)
        let sam2Entry = "  - name: sam2_features\n    inputs: {image: decode}\n    persistence: persist\n"
        XCTAssertTrue(text.contains(sam2Entry), "the default file's sam2_features entry changed")
        let pipeline = try PipelineFileLoader().load(
            yaml: text.replacingOccurrences(of: sam2Entry, with: sam2Entry.replacingOccurrences(
                of: "persistence: persist", with: "persistence: {support: persist, query: recompute}")),
            path: "no-query-sam2.yaml")
        let first = try await run(supports: supports, out: path("out1"), cache: path("cache"), pipeline: pipeline)
        XCTAssertEqual(first.succeeded, 2)
        XCTAssertEqual(first.counters.computed("decode", .query), 2)

        let retune = try await run(supports: supports, out: path("out2"), cache: path("cache"), set: ["imr.iterations=2"],
                                   pipeline: pipeline)
        XCTAssertEqual(retune.succeeded, 2)
        XCTAssertEqual(retune.counters.hits("decode", .query), 2, "\(retune.counters)")
        XCTAssertEqual(retune.counters.computed("sam2_features", .query), 2, "the features were recomputed from the image")
        try assertMasksEqualUncachedForward(queries: 2, supports: supports, refineIterations: 2, in: path("out2"))

        let limited = try await run(supports: supports, out: path("out3"), cache: path("cache"), set: ["imr.iterations=4"],
                                    pipeline: pipeline, maxPixels: 4095)
        XCTAssertEqual(limited.failed, 2)
        XCTAssertEqual(limited.counters.computed("imr", .query), 0, "refused before any model work")
        let errors = String(decoding: try Data(contentsOf: URL(fileURLWithPath: path("out3/errors.jsonl"))), as: UTF8.self)
        XCTAssertEqual(errors.split(separator: "\n").count, 2)
        XCTAssertTrue(errors.contains("\"stage\":\"decode\"") && errors.contains("4095"), errors)
    }

    func testAnUnreadableDoneRecordIsRecomputedAndReportedNotFatal() async throws {
        let supports = try makeDataset(queries: 3)
        let first = try await run(supports: supports, out: path("out"), cache: path("cache"))
        XCTAssertEqual(first.succeeded, 3)
        let masks = try files(under: path("out"))
        // q0: bytes that are no done-record; q1: a record whose report lines this version did not write.
        let store = try CacheStore(directory: path("cache"))
        try store.environment.write { txn in try txn.put(.done, try DoneRecord.key(run: first.runID, item: "q0.png"), [1, 2, 3]) }
        try await store.complete(run: first.runID, item: "q1.png", records: [], outputs: [:], message: "not two lines")
        try await store.flushAndClose()

        let second = try await run(supports: supports, out: path("out"), cache: path("cache"))
        XCTAssertEqual([second.skippedAsDone, second.succeeded, second.failed, second.unreadableDoneRecords], [1, 2, 0, 2])
        XCTAssertEqual(second.counters.computed("imr", .query), 0, "recomputed through the cache, no model stage")
        let again = try files(under: path("out"))
        for name in masks.keys where name != "results.jsonl" { XCTAssertEqual(again[name], masks[name], name) }
        // Healed: the next run skips all three.
        let third = try await run(supports: supports, out: path("out"), cache: path("cache"))
        XCTAssertEqual([third.skippedAsDone, third.unreadableDoneRecords], [3, 0])
    }

    func testUndecodableQueryIsReportedAndTheOthersComplete() async throws {
        let supports = try makeDataset(queries: 2)
        try AtomicFile.write(Array("not an image".utf8), to: path("queries/broken.png"))
        let summary = try await run(supports: supports, out: path("out"), cache: path("cache"))
        XCTAssertEqual(summary.succeeded, 2)
        XCTAssertEqual(summary.failed, 1)
        let out = try files(under: path("out"))
        XCTAssertNotNil(out["masks/q0.png.png"])
        XCTAssertNotNil(out["masks/q1.png.png"])
        XCTAssertNil(out["masks/broken.png.png"])
        let errors = String(decoding: out["errors.jsonl"]!, as: UTF8.self).split(separator: "\n")
        XCTAssertEqual(errors.count, 1)
        XCTAssertTrue(errors[0].hasPrefix("{\"id\":\"broken.png\",\"path\":\"\(path("queries/broken.png"))\",\"stage\":\"decode\",\"reason\":"),
                      String(errors[0]))
        XCTAssertEqual(String(decoding: out["results.jsonl"]!, as: UTF8.self).split(separator: "\n").count, 2)

        // The failed item is not done: a re-run retries it (and fails again), the good ones are skipped.
        let again = try await run(supports: supports, out: path("out"), cache: path("cache"))
        XCTAssertEqual(again.skippedAsDone, 2)
        XCTAssertEqual(again.failed, 1)
        XCTAssertEqual(try files(under: path("out"))["errors.jsonl"], out["errors.jsonl"])
    }

    func testSupportProblemsStopTheRunBeforeAnyWork() throws {
        _ = try makeDataset(queries: 1)
        try AtomicFile.write(try ImageEncoder.png(width: 64, height: 64, bands: 1, pixels: [UInt8](repeating: 0, count: 64 * 64)),
                             to: path("empty-mask.png"))
        let (model, digests) = try Self.model()
        let store = try CacheStore(directory: path("cache"))
        defer { store.close() }
        XCTAssertThrowsError(try RunExecutor(model: model, weights: digests, store: store, configuration: RunConfiguration(
            supports: [Episode.SupportFiles(image: path("support.png"), mask: path("empty-mask.png"))], outputDirectory: path("out")))) {
            XCTAssertTrue("\($0)".contains("empty-mask.png"), "\($0)")
        }
        XCTAssertThrowsError(try RunParameters(overrides: [try PipelineOverride.parse("scma.alpha=3")])) {
            XCTAssertTrue("\($0)".contains("cannot apply scma.alpha"), "\($0)")
        }
        XCTAssertThrowsError(try RunParameters(overrides: [try PipelineOverride.parse("imr.iterations=-1")]))
        XCTAssertEqual(try RunParameters(overrides: [try PipelineOverride.parse("imr.iterations=2")]).refineIterations, 2)
    }
}

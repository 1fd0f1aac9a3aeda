import XCTest
import Checkpoint
import Models
import Pipeline
import StageCache

/// `fssam eval`'s model path on synthetic weights: a sweep computes no encoder stage for its extra
/// values, a query's features are computed once across its episodes, and the sweep's value that
/// equals a single evaluation's gives that evaluation's metrics exactly.
final class EvalRunnerTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fssam-evalrun-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func evaluate(_ episodes: [EvalEpisode], layout: DatasetLayout, sweep: String?, cache: String) async throws
        -> (EvalRunner.Outcome, StageCounters) {
        let (model, digests) = try RunExecutorTests.model()
        let store = try CacheStore(directory: cache)
        let settings = try EvalSetting.sweep(sweep, base: [])
        let predictor = ModelPredictor(model: model, weights: digests, store: store, parameters: settings[0].parameters)
        let runner = EvalRunner(layout: layout, classes: [1, 2, 3, 4, 5], settings: settings, predictor: predictor)
        runner.recordsEpisodeCounts = true
        let outcome = try await runner.run(episodes)
        try await store.flushAndClose()
        return (outcome, predictor.counters)
    }

    func testSweepComputesNoEncoderStageForExtraValuesAndMatchesASingleEvaluation() async throws {
        let root = directory.appendingPathComponent("data").path
        _ = try EvalMiniDataset.write(root: root)
        let layout = DatasetLayout(dataset: .pascal, root: root)
        let p = EvalMiniDataset.pair
        // img0 is the query twice (with different supports); its episodes are run back to back.
        let episodes = [EvalEpisode(index: 0, query: p(0), classID: 1, supports: [p(4)]),
                        EvalEpisode(index: 1, query: p(3), classID: 3, supports: [p(5)]),
                        EvalEpisode(index: 2, query: p(0), classID: 1, supports: [p(1)])]

        let (single, one) = try await evaluate(episodes, layout: layout, sweep: nil, cache: directory.appendingPathComponent("a").path)
        let (swept, four) = try await evaluate(episodes, layout: layout, sweep: "imr.iterations=3,1,2,4",
                                               cache: directory.appendingPathComponent("b").path)
        XCTAssertTrue(single.failed.isEmpty && swept.failed.isEmpty)
        for stage in ["dino_features", "sam2_features"] {
            XCTAssertEqual(one.computed(stage, .query), 2, "two distinct query images: \(one)")
            XCTAssertEqual(one.computed(stage, .support), 3, "\(one)")
            XCTAssertEqual(four.computed(stage, .query), one.computed(stage, .query), "\(four)")
            XCTAssertEqual(four.computed(stage, .support), one.computed(stage, .support), "\(four)")
        }
        for stage in ["priors", "memory_encode"] {
            XCTAssertEqual(four.computed(stage, .query), 3, "\(four)")
            XCTAssertEqual(four.computed(stage, .support), one.computed(stage, .support), "\(four)")
        }
        for stage in ["imr", "scma", "decode_mask"] {
            XCTAssertEqual(one.computed(stage, .query), 3, "\(one)")
            XCTAssertEqual(four.computed(stage, .query), 12, "3 episodes × 4 values: \(four)")
        }
        // SCMA's layer 0 before the refined memory: once per episode, whatever the IMR setting.
        XCTAssertEqual(one.computed("scma_prefix", .query), 3, "\(one)")
        XCTAssertEqual(four.computed("scma_prefix", .query), 3, "\(four)")
        XCTAssertEqual(four.hits("scma_prefix", .query), 9, "\(four)")
        XCTAssertEqual(swept.metrics[0], single.metrics[0], "imr.iterations=3 is the default")
        XCTAssertEqual(swept.counts[1]![0], single.counts[1]![0])
        XCTAssertGreaterThan(single.metrics[0].union[1], 0)
    }

    /// Another evaluation on the same cache (another seed or fold run) whose images were seen
    /// before — roles swapped: a former support is now the query and a former query a support —
    /// encodes nothing: every image's encoder features persist in evaluations.
    func testImagesSeenInAnEarlierEvaluationAreNeverReEncoded() async throws {
        let root = directory.appendingPathComponent("data").path
        _ = try EvalMiniDataset.write(root: root)
        let layout = DatasetLayout(dataset: .pascal, root: root)
        let p = EvalMiniDataset.pair
        let cache = directory.appendingPathComponent("shared").path
        let first = [EvalEpisode(index: 0, query: p(0), classID: 1, supports: [p(4)])]
        let (_, before) = try await evaluate(first, layout: layout, sweep: nil, cache: cache)
        XCTAssertEqual(before.computed("dino_features"), 2, "\(before)")
        let swapped = [EvalEpisode(index: 0, query: p(4), classID: 1, supports: [p(0)])]
        let (outcome, after) = try await evaluate(swapped, layout: layout, sweep: nil, cache: cache)
        XCTAssertTrue(outcome.failed.isEmpty)
        for stage in ["dino_features", "sam2_features"] {
            XCTAssertEqual(after.computed(stage), 0, "\(stage) re-encoded a known image: \(after)")
            XCTAssertEqual(after.hits(stage, .query) + after.hits(stage, .support), 2, "\(after)")
        }
        XCTAssertEqual(after.computed("decode_mask", .query), 1, "a new episode is still computed downstream: \(after)")
    }
}

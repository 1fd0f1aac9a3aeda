import XCTest
import Pipeline

/// The metrics of spec §4.5, checked against independent computations: literal counts, a literal
/// port of the authors' `intersectionAndUnionGPU`, and whole evaluations of the miniature dataset
/// with a known predictor.
final class EvalMetricsTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fssam-evalmetrics-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func testIgnorePixelsLeaveEveryCount() {
        // target 0 1 255 1 0 255 / prediction 1 1 1 0 0 0: fg pred {0,1}, fg target {1,3}; bg pred {3,4}, bg target {0,4}.
        let c = EpisodeCounts(prediction: [1, 1, 1, 0, 0, 0], target: [0, 1, 255, 1, 0, 255])
        XCTAssertEqual(c.intersection, [1, 1])
        XCTAssertEqual(c.union, [3, 3])
    }

    /// The authors' code, step by step: `output[target == 255] = 255`, `intersection =
    /// output[output == target]`, then `histc(bins=2, min=0, max=1)` of intersection, output and
    /// target (values outside [0, 1] are dropped).
    func authorsCounts(output: [UInt8], target: [UInt8]) -> (i: [Int], u: [Int]) {
        var out = output.map(Int.init)
        for k in out.indices where target[k] == 255 { out[k] = 255 }
        func histc(_ xs: [Int]) -> [Int] { [xs.filter { $0 == 0 }.count, xs.filter { $0 == 1 }.count] }
        let inter = histc(out.indices.filter { out[$0] == Int(target[$0]) }.map { out[$0] })
        let areaOut = histc(out), areaTarget = histc(target.map(Int.init))
        return (inter, [areaOut[0] + areaTarget[0] - inter[0], areaOut[1] + areaTarget[1] - inter[1]])
    }

    func testCountsMatchTheAuthorsHistogramsOnRandomMasks() {
        var state: UInt64 = 12345
        func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 33 }
        for _ in 0..<50 {
            let n = 1 + Int(next() % 400)
            let target = (0..<n).map { _ in [UInt8(0), 1, 255][Int(next() % 3)] }
            let output = (0..<n).map { _ in UInt8(next() % 2) }
            let expected = authorsCounts(output: output, target: target)
            let c = EpisodeCounts(prediction: output, target: target)
            XCTAssertEqual(c.intersection, expected.i)
            XCTAssertEqual(c.union, expected.u)
        }
    }

    /// Predicts a fixed rectangle (rows 10..<50, cols 20..<80) for every episode and setting
    /// (setting s shifts it down by 4·s rows); fails every episode whose query is `failing`.
    final class RectanglePredictor: EvalPredictor {
        var finished = 0
        var failing: ImagePair?
        static func mask(setting s: Int) -> [UInt8] {
            var m = [UInt8](repeating: 0, count: EvalMiniDataset.width * EvalMiniDataset.height)
            for r in (10 + 4 * s)..<(50 + 4 * s) { for c in 20..<80 { m[r * EvalMiniDataset.width + c] = 1 } }
            return m
        }
        func masks(_ inputs: EvalInputs, settings: [RunParameters]) async throws -> [[UInt8]] {
            XCTAssertEqual(inputs.supports.count, 1)
            XCTAssertEqual(inputs.supports[0].label.count, 512 * 512)
            return settings.indices.map { Self.mask(setting: $0) }
        }
        func queryFinished() { finished += 1 }
    }

    func testMiniDatasetMetricsAgreeWithAnIndependentComputation() async throws {
        let root = directory.appendingPathComponent("data").path
        _ = try EvalMiniDataset.write(root: root)
        let layout = DatasetLayout(dataset: .pascal, root: root)
        let plan = try EvalPlan(layout: layout, fold: 0, shots: 1, count: 23, seed: 321, episodeList: nil)
        let episodes = try plan.episodes.all().compactMap(\.episode)
        XCTAssertTrue(plan.builtLists)
        let settings = try EvalSetting.sweep("imr.iterations=3,1", base: [])
        XCTAssertEqual(settings.map(\.name), ["imr.iterations=3", "imr.iterations=1"])
        let predictor = RectanglePredictor()
        let predictions = directory.appendingPathComponent("pred").path
        let runner = EvalRunner(layout: layout, classes: [1, 2, 3, 4, 5], settings: settings, predictor: predictor,
                                predictionsDirectory: predictions)
        let outcome = try await runner.run(plan.episodes)
        XCTAssertTrue(outcome.failed.isEmpty)
        XCTAssertEqual(predictor.finished, 6, "episodes grouped by query: 6 distinct queries")

        for s in 0..<2 {
            // Independent: per pixel, from the known labels and the known rectangle.
            var classI = [Int: Int](), classU = [Int: Int](), fbI = [0, 0], fbU = [0, 0]
            for e in episodes {
                let label = EvalMiniDataset.label(EvalMiniDataset.index(of: e.query))
                let pred = RectanglePredictor.mask(setting: s)
                for k in 0..<2 {
                    var i = 0, u = 0
                    for px in label.indices where label[px] != 255 {
                        let t = Int(label[px]) == e.classID ? 1 : 0
                        let p = Int(pred[px])
                        if t == k && p == k { i += 1 }
                        if t == k || p == k { u += 1 }
                    }
                    fbI[k] += i; fbU[k] += u
                    if k == 1 { classI[e.classID, default: 0] += i; classU[e.classID, default: 0] += u }
                }
            }
            let ious = (1...5).map { c in Double(classI[c] ?? 0) / (Double(classU[c] ?? 0) + 1e-10) }
            let m = outcome.metrics[s]
            XCTAssertEqual(m.episodes, 23)
            for (a, b) in zip(m.classIoU, ious) { XCTAssertEqual(a, b, accuracy: 1e-12) }
            XCTAssertEqual(m.classIoU[3], 0, "class 4 is never drawn and counts as 0")
            XCTAssertEqual(m.meanIoU, ious.reduce(0, +) / 5, accuracy: 1e-12)
            XCTAssertEqual(m.foregroundBackgroundIoU,
                           (Double(fbI[0]) / (Double(fbU[0]) + 1e-10) + Double(fbI[1]) / (Double(fbU[1]) + 1e-10)) / 2, accuracy: 1e-12)
            XCTAssertGreaterThan(m.meanIoU, 0.05)
        }
        XCTAssertNotEqual(outcome.metrics[0], outcome.metrics[1])

        // The saved predictions are the masks, at the original size, per setting.
        let png = try ImageDecoder().decodeLabelFile(runner.predictionPath(predictions, episode: 4, setting: 1))
        XCTAssertEqual(png.values.map { $0 == 0 ? UInt8(0) : 1 }, RectanglePredictor.mask(setting: 1))
        XCTAssertTrue(runner.predictionPath(predictions, episode: 4, setting: 1).hasSuffix("/imr.iterations=1/episode-00004.png"))
        XCTAssertEqual(try EpisodeListFile.read(predictions + "/episodes.jsonl", classes: [1, 2, 3, 4, 5], shots: 1), episodes)

        let report = EvalReport(dataset: .pascal, fold: 0, shots: 1, seed: 321, episodes: 23, listsBuilt: true,
                                settings: settings, outcome: outcome)
        let json = try JSONSerialization.jsonObject(with: Data(try report.json())) as! [String: Any]
        let first = (json["results"] as! [[String: Any]])[0]
        XCTAssertEqual(first["miou"] as! Double, outcome.metrics[0].meanIoU, accuracy: 1e-15)
        XCTAssertEqual((first["classes"] as! [[String: Any]]).count, 5)
        XCTAssertTrue(report.table.contains("imr.iterations=1: mIoU "), report.table)
    }

    func testAnUnreadableSupportFailsOnlyItsEpisodesAndAMissingFileStopsBeforeWork() async throws {
        let root = directory.appendingPathComponent("data").path
        let d = try EvalMiniDataset.write(root: root)
        let layout = DatasetLayout(dataset: .pascal, root: root)
        let plan = try EvalPlan(layout: layout, fold: 0, shots: 1, count: 12, seed: 9, episodeList: nil)
        let episodes = try plan.episodes.all().compactMap(\.episode)
        // Corrupt img5's image: it is a query (episodes 5, 11) and maybe a support of class 3.
        try AtomicFile.write(Array("not an image".utf8), to: d.voc + "/JPEGImages/img5.jpg")
        let runner = EvalRunner(layout: layout, classes: [1, 2, 3, 4, 5], settings: try EvalSetting.sweep(nil, base: []),
                                predictor: RectanglePredictor())
        let outcome = try await runner.run(plan.episodes)
        let expectedFailed = episodes.filter { $0.query == EvalMiniDataset.pair(5) || $0.supports.contains(EvalMiniDataset.pair(5)) }
        XCTAssertEqual(outcome.failed.map(\.episode), expectedFailed.map(\.index))
        XCTAssertTrue(outcome.failed[0].subject.hasSuffix("JPEGImages/img5.jpg"), "\(outcome.failed[0])")
        XCTAssertEqual(outcome.metrics[0].episodes, 12 - expectedFailed.count)

        try FileManager.default.removeItem(atPath: d.voc + "/JPEGImages/img5.jpg")
        XCTAssertThrowsError(try EvalPlan(layout: layout, fold: 0, shots: 1, count: 12, seed: 9, episodeList: nil)) { error in
            XCTAssertTrue("\(error)".contains("JPEGImages/img5.jpg: missing"), "\(error)")
        }
    }
}

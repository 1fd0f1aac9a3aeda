import Foundation
import XCTest
@testable import Pipeline

/// Evaluation inputs: an unreadable label fails its episodes only, list paths never leave
/// `--root`, and the episodes are generated as a stream that repeats exactly.
final class EvalInputHazardTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fssam-evalhazard-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    /// The mini dataset with its fold-0 lists written, so labels are not read to build them.
    func dataset() throws -> (EvalMiniDataset, DatasetLayout) {
        let root = directory.appendingPathComponent("data").path
        let d = try EvalMiniDataset.write(root: root)
        let layout = DatasetLayout(dataset: .pascal, root: root, lists: directory.appendingPathComponent("lists").path)
        try EvalListBuilder(layout: layout).build(fold: 0).write(to: layout, fold: 0)
        return (d, layout)
    }

    func testUnreadableQueryOrSupportLabelsFailOnlyTheirEpisodes() async throws {
        let (d, layout) = try dataset()
        let label5 = d.voc + "/SegmentationClassAug/img5.png"
        let label1 = d.voc + "/SegmentationClassAug/img1.png"
        // A colour label (its pixel colours are not class values) and a folder in a label's place.
        let rgb = try ImageEncoder.png(width: EvalMiniDataset.width, height: EvalMiniDataset.height, bands: 3,
                                       pixels: (0..<(EvalMiniDataset.width * EvalMiniDataset.height * 3)).map { UInt8($0 % 3 * 100) })
        try AtomicFile.write(rgb, to: label5)
        try FileManager.default.removeItem(atPath: label1)
        try FileManager.default.createDirectory(atPath: label1, withIntermediateDirectories: true)

        let plan = try EvalPlan(layout: layout, fold: 0, shots: 1, count: 18, seed: 9, episodeList: nil)
        let draws = try plan.episodes.all()
        XCTAssertEqual(draws.count, 18)
        let failedDraws = draws.compactMap { if case .failed(let f) = $0 { f } else { nil } }
        XCTAssertFalse(failedDraws.isEmpty)
        for f in failedDraws {
            XCTAssertTrue(f.subject == label5 || f.subject == label1, "\(f)")
            XCTAssertTrue(f.reason.hasPrefix("query label: "), f.reason)
        }
        let bad: Set = [EvalMiniDataset.pair(5), EvalMiniDataset.pair(1)]
        let supportFailures = draws.compactMap(\.episode).filter { !bad.isDisjoint(with: $0.supports) }
        XCTAssertFalse(supportFailures.isEmpty, "the seed draws a bad label as a support somewhere")

        let runner = EvalRunner(layout: layout, classes: [1, 2, 3, 4, 5], settings: try EvalSetting.sweep(nil, base: []),
                                predictor: EvalMetricsTests.RectanglePredictor())
        let outcome = try await runner.run(plan.episodes)
        XCTAssertEqual(outcome.failed.map(\.episode), (failedDraws.map(\.episode) + supportFailures.map(\.index)).sorted())
        XCTAssertEqual(outcome.failedCount, outcome.failed.count)
        XCTAssertEqual(outcome.metrics[0].episodes, 18 - outcome.failedCount)
        let report = EvalReport(dataset: .pascal, fold: 0, shots: 1, seed: 9, episodes: 18, listsBuilt: false,
                                settings: try EvalSetting.sweep(nil, base: []), outcome: outcome)
        XCTAssertTrue(report.table.contains("\(18 - outcome.failedCount) of 18 episodes evaluated, \(outcome.failedCount) failed"), report.table)
    }

    func testListPathsThatEscapeTheRootAreRefusedWithFileAndLine() throws {
        let (_, layout) = try dataset()
        let dataList = layout.dataListFile(fold: 0)
        let original = try String(contentsOfFile: dataList, encoding: .utf8)
        for escaping in ["../data/../../../etc/passwd", "/etc/shadow"] {
            try AtomicFile.write(Array((original + "\(escaping) ../data/x.png\n").utf8), to: dataList)
            let line = original.split(separator: "\n").count + 1
            XCTAssertThrowsError(try EvalPlan(layout: layout, fold: 0, shots: 1, count: 4, seed: 1, episodeList: nil)) { error in
                XCTAssertEqual("\(error)", "\(dataList):\(line): path '\(escaping)' escapes --root (\(layout.root)); list paths must name files inside it")
            }
        }
        try AtomicFile.write(Array(original.utf8), to: dataList)

        let episodes = directory.appendingPathComponent("ep.jsonl").path
        let pair = EvalMiniDataset.pair
        try AtomicFile.write(Array(("""
            {"class":1,"episode":0,"query":{"image":"\(pair(0).image)","label":"\(pair(0).label)"},"supports":[{"image":"\(pair(4).image)","label":"\(pair(4).label)"}]}
            {"class":1,"episode":1,"query":{"image":"\(pair(0).image)","label":"/etc/shadow"},"supports":[{"image":"\(pair(4).image)","label":"\(pair(4).label)"}]}

            """).utf8), to: episodes)
        XCTAssertThrowsError(try EvalPlan(layout: layout, fold: 0, shots: 1, count: 4, seed: 1, episodeList: episodes)) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(episodes):2: path '/etc/shadow' escapes --root"), "\(error)")
        }
        // A path inside the root, however spelled, is fine.
        XCTAssertEqual(try layout.resolveInside(layout.root + "/./VOCdevkit2012/../VOCdevkit2012/x.png").get(),
                       layout.root + "/./VOCdevkit2012/../VOCdevkit2012/x.png")
    }

    func testStreamedEpisodesRepeatExactlyAndMatchTheInMemoryDraw() throws {
        let (_, layout) = try dataset()
        let plan = try EvalPlan(layout: layout, fold: 0, shots: 1, count: 50, seed: 321, episodeList: nil)
        guard case .sampled(let sampler, _, _) = plan.episodes else { return XCTFail("expected sampled episodes") }
        let streamed = try plan.episodes.all().compactMap(\.episode)
        XCTAssertEqual(streamed, try sampler.draw(count: 50, seed: 321))
        XCTAssertEqual(streamed, try plan.episodes.all().compactMap(\.episode), "a second pass gives the same episodes")
        XCTAssertEqual(streamed.map(\.index), Array(0..<50))
    }

    func testWindowsKeepAQuerysEpisodesTogether() {
        let p = EvalMiniDataset.pair
        let window = [EvalEpisode(index: 0, query: p(0), classID: 1, supports: [p(4)]),
                      EvalEpisode(index: 1, query: p(3), classID: 3, supports: [p(5)]),
                      EvalEpisode(index: 2, query: p(0), classID: 1, supports: [p(1)])]
        XCTAssertEqual(EvalRunner.groupedByQuery(window).map(\.index), [0, 2, 1])
    }
}

import Foundation

/// What an evaluation found, as `report.json` (keys sorted, no timestamps: the same run gives the
/// same bytes) and as a table for people.
public struct EvalReport: Sendable, Codable {
    public struct ClassResult: Sendable, Codable {
        public var classID: Int
        public var iou: Double
        public var episodes: Int
        public var intersection: Int
        public var union: Int

        enum CodingKeys: String, CodingKey { case classID = "class", iou, episodes, intersection, union }
    }

    public struct SettingResult: Sendable, Codable {
        public var setting: String
        public var mIoU: Double
        public var fbIoU: Double
        /// Foreground IoU pooled over all episodes (test.py's third number).
        public var pooledIoU: Double
        /// Σ I and Σ U over episodes for background (0) and foreground (1).
        public var intersection: [Int]
        public var union: [Int]
        public var classes: [ClassResult]

        enum CodingKeys: String, CodingKey {
            case setting, mIoU = "miou", fbIoU = "fb_iou", pooledIoU = "pooled_fg_iou", intersection, union, classes
        }
    }

    public var dataset: String
    public var fold: Int
    public var shots: Int
    public var seed: UInt64?
    public var episodes: Int
    public var evaluated: Int
    public var listsBuilt: Bool
    public var results: [SettingResult]
    /// The first `EvalRunner.maxListedFailures` failed episodes, in index order.
    public var failed: [FailedEpisode]
    /// All failed episodes, listed or not.
    public var failedCount: Int

    enum CodingKeys: String, CodingKey {
        case dataset, fold, shots, seed, episodes, evaluated, listsBuilt = "lists_built", results, failed, failedCount = "failed_count"
    }

    public init(dataset: EvalDataset, fold: Int, shots: Int, seed: UInt64?, episodes: Int, listsBuilt: Bool,
                settings: [EvalSetting], outcome: EvalRunner.Outcome) {
        self.dataset = dataset.rawValue
        self.fold = fold
        self.shots = shots
        self.seed = seed
        self.episodes = episodes
        self.evaluated = outcome.metrics.first?.episodes ?? 0
        self.listsBuilt = listsBuilt
        self.failed = outcome.failed
        self.failedCount = outcome.failedCount
        results = zip(settings, outcome.metrics).map { setting, m in
            SettingResult(setting: setting.name, mIoU: m.meanIoU, fbIoU: m.foregroundBackgroundIoU, pooledIoU: m.pooledForegroundIoU,
                          intersection: m.intersection, union: m.union,
                          classes: m.classes.indices.map {
                              ClassResult(classID: m.classes[$0], iou: m.classIoU[$0], episodes: m.classEpisodes[$0],
                                          intersection: m.classIntersection[$0], union: m.classUnion[$0])
                          })
        }
    }

    public func json() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return Array(try encoder.encode(self)) + [10]
    }

    /// Per setting: mIoU, FB-IoU, then a row per class.
    public var table: String {
        var lines = ["\(dataset) fold \(fold), \(shots)-shot: \(evaluated) of \(episodes) episodes evaluated"
                     + (failedCount == 0 ? "" : ", \(failedCount) failed") + (seed.map { ", seed \($0)" } ?? "")]
        for r in results {
            lines.append("")
            lines.append("\(r.setting): mIoU \(Self.percent(r.mIoU))  FB-IoU \(Self.percent(r.fbIoU))  pooled FG-IoU \(Self.percent(r.pooledIoU))")
            lines.append("  class   episodes       IoU")
            for c in r.classes {
                lines.append(String(format: "  %5d   %8d   %7@", c.classID, c.episodes, Self.percent(c.iou) as NSString))
            }
        }
        for f in failed.prefix(20) { lines.append("failed episode \(f.episode): \(f.subject): \(f.reason)") }
        if failedCount > 20 {
            lines.append("… \(failedCount - 20) more failed episode(s)"
                         + (failedCount > failed.count ? " (report.json lists the first \(failed.count))" : " in report.json"))
        }
        return lines.joined(separator: "\n")
    }

    static func percent(_ x: Double) -> String { String(format: "%.2f", x * 100) }
}

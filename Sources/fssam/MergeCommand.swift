import ArgumentParser
import Foundation
import Pipeline

/// `fssam merge`: the finished shards of a run combined into the result set an unsharded run writes.
struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Combine the shards under OUT/shards/ into one result set at OUT, as an unsharded run writes it.",
        discussion: """
            Masks are hard-linked into OUT/masks (copied across file systems); results.jsonl, errors.jsonl and \
            predictions.json are merged in item order from the sorted shard files (streamed); run.json is written last, \
            without the shard field. Refuses an incomplete set (naming the indices to resubmit) and shards of \
            different runs (naming the shards and the differing field: run_id, pipeline, parameters, supports, \
            weights or shard count).

            Example:
              fssam merge --out results/
            """)

    @Option(help: ArgumentHelp("The run's output folder (holding shards/); the merged result goes here.", valueName: "dir"))
    var out: String

    @Option(help: ArgumentHelp("The number of shards, \(OptionRange.text(OptionRange.shardCount)) (default: from the part folders' names).",
                               valueName: "N"))
    var shardCount: Int?

    func validate() throws {
        if let shardCount { try OptionRange.check(shardCount, OptionRange.shardCount, option: "shard-count") }
    }

    func run() throws {
        let started = Date()
        let report: ShardMerge.Report
        do { report = try ShardMerge.merge(outputDirectory: out, count: shardCount) } catch {
            FileHandle.standardError.write(Data("fssam merge: \(error)\n".utf8))
            throw ExitCode.failure
        }
        let m = report.manifest.items
        print("merged \(report.count) shard(s) of run \(report.manifest.runID) into \(out): \(m.ok) ok, \(m.failed) failed; "
              + "\(report.results) result line(s), \(report.errors) error line(s), "
              + (report.predictions.map { "\($0) prediction(s), " } ?? "")
              + "masks \(report.masksLinked) linked, \(report.masksCopied) copied, "
              + String(format: "%.3f s", Date().timeIntervalSince(started)))
    }
}

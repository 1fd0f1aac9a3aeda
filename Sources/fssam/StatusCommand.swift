import ArgumentParser
import Foundation
import Pipeline

/// `fssam status`: how far a sharded run is — per shard done / failed / missing, and the exact
/// array indices to submit again.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show which shards of a sharded run (OUT/shards/I-of-N) are done, failed or missing.",
        discussion: """
            done: finished, every item ok. failed: finished, some items failed (see its errors.jsonl; a resubmit \
            retries only those). missing: no run.json — not started, still running, or killed. damaged: its files \
            disagree with its run.json (a mask deleted or changed, report lines lost). Resubmit the missing and damaged \
            ones (sbatch --array=LIST …). Exit status 0 when every shard finished whole, 2 otherwise.

            Example:
              fssam status --out results/
              fssam status --out results/ --json
            """)

    @Option(help: ArgumentHelp("The run's output folder (holding shards/).", valueName: "dir"))
    var out: String

    @Option(help: ArgumentHelp("The number of shards, \(OptionRange.text(OptionRange.shardCount)) (default: from the part folders' names).",
                               valueName: "N"))
    var shardCount: Int?

    func validate() throws {
        if let shardCount { try OptionRange.check(shardCount, OptionRange.shardCount, option: "shard-count") }
    }

    @Flag(help: "Print JSON instead of text.")
    var json = false

    struct ShardJSON: Encodable {
        let index: Int
        let state: String
        let ok, failed: Int?
        let runID: String?
        let detail: String?

        enum CodingKeys: String, CodingKey {
            case index, state, ok, failed, detail
            case runID = "run_id"
        }
    }

    struct StatusJSON: Encodable {
        let out: String
        let count: Int
        let done, failed, missing, damaged: [Int]
        let complete: Bool
        /// The `--array=` list for the missing shards ("" when none).
        let resubmit: String
        let shards: [ShardJSON]
    }

    func run() throws {
        let set: ShardSet
        do { set = try ShardSet(outputDirectory: out, count: shardCount) } catch {
            FileHandle.standardError.write(Data("fssam status: \(error)\n".utf8))
            throw ExitCode.failure
        }
        func indices(_ state: ShardPart.State) -> [Int] { set.parts.filter { $0.state == state }.map(\.shard.index) }
        if json {
            let shards = set.parts.map {
                ShardJSON(index: $0.shard.index, state: $0.state.rawValue, ok: $0.manifest?.items.ok, failed: $0.manifest?.items.failed, runID: $0.manifest?.runID, detail: $0.detail)
            }
            try printJSON(StatusJSON(out: out, count: set.count, done: indices(.done), failed: indices(.failed),
                                     missing: indices(.missing), damaged: indices(.damaged), complete: set.isComplete,
                                     resubmit: ShardSet.arrayList(set.missing), shards: shards))
        } else {
            var lines = ["\(out): \(set.count) shard(s): \(indices(.done).count) done, \(indices(.failed).count) failed, "
                         + "\(indices(.missing).count) missing" + (indices(.damaged).isEmpty ? "" : ", \(indices(.damaged).count) damaged")]
            for part in set.parts {
                let name = part.shard.partName.padding(toLength: max(8, part.shard.partName.count), withPad: " ", startingAt: 0)
                let state = part.state.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)
                if part.state == .damaged {
                    lines.append("  \(name) \(state) \(part.detail ?? "")")
                } else if let m = part.manifest {
                    lines.append("  \(name) \(state) \(m.items.ok) ok, \(m.items.failed) failed")
                } else {
                    lines.append("  \(name) \(state) \(part.detail ?? "")")
                }
            }
            if set.isComplete {
                lines.append("complete: fssam merge --out \(out)")
            } else {
                lines.append("resubmit: --array=\(ShardSet.arrayList(set.missing))")
            }
            print(lines.joined(separator: "\n"))
        }
        if !set.isComplete { throw ExitCode(2) }
    }
}

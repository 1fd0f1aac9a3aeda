import ArgumentParser
import Foundation
import Models
import Pipeline
import StageCache
import Tensor

/// `fssam run`: segment a folder or manifest of query images against one support set, cached per stage.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Segment every image of a folder or manifest from k support examples, caching each stage's output.",
        discussion: """
            Writes to OUT: masks/<id>.png (0/255 at the image's size; the id is the path under --queries, so \
            photos/cat.jpg gives masks/photos/cat.jpg.png), predictions.json \
            (COCO results, RLE), results.jsonl (one line per item), errors.jsonl (one line per failed item), run.json \
            (what the run was) — all sorted by item id, with no timestamps, written atomically. --overlay adds \
            overlays/<item>.png, --probabilities probabilities/<item>.png.

            An item is done when its mask is written and its outputs are committed to the cache: a repeated or \
            resumed run skips done items, adding images computes only the new ones, and a re-tune \
            (--set imr.iterations=2) reuses every cached stage upstream of the change. Exit status 2 when some \
            items failed (the rest completed).

            Examples:
              fssam run --support cat1.jpg cat1.png --queries photos/ --out results/ --checkpoint best_1shot.pth
              fssam run --support-set supports.yaml --manifest items.jsonl --out results/ --checkpoint best_1shot.pth
              fssam run --support cat1.jpg cat1.png --queries photos/ --out results-imr2/ --set imr.iterations=2 \\
                --checkpoint best_1shot.pth
            """)

    @OptionGroup var supportOptions: SupportOptions

    @OptionGroup var setup: RunSetupOptions

    @Option(help: ArgumentHelp("Output folder.", valueName: "dir"))
    var out: String

    @Flag(help: "Also write overlays/<item>.png: the image with the mask tinted.")
    var overlay = false

    @Flag(help: "Also write probabilities/<item>.png: round(255 · sigmoid(logit)) at the image's size.")
    var probabilities = false

    @Option(help: "category_id of the entries in predictions.json, \(OptionRange.text(OptionRange.categoryID)).")
    var categoryID = 1

    func validate() throws {
        try OptionRange.check(categoryID, OptionRange.categoryID, option: "category-id")
    }

    @Flag(help: "No progress on stderr.")
    var quiet = false

    @Flag(help: "Print the final summary as JSON on stdout.")
    var json = false

    @Flag(help: "Write into an --out that holds another run's results (other supports, weights, parameters or input), deleting those results first.")
    var force = false

    @OptionGroup var weightOptions: WeightOptions

    @OptionGroup(title: "Sharding (clusters)") var shardOptions: ShardOptions

    func run() async throws {
        do { try await execute() } catch let e as ExitCode { throw e } catch {
            FileHandle.standardError.write(Data("fssam run: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }

    /// Reads and checks everything cheap (inputs, supports, pipeline, parameters) before the slow weight loading.
    private func execute() async throws {
        supportOptions.applyThreads()
        let listing = try setup.listing(outputDirectory: out)
        // Sharding: this process's part of the listing, written to OUT/shards/I-of-N/.
        let shard = try shardOptions.resolve()
        let out = shard?.partDirectory(in: self.out) ?? self.out
        // Taken first, so a second run on this folder is refused at once, before any work.
        let folder = try OutputFolder(out)
        let (definition, parameters) = try setup.parameters()
        let (supports, ignoreValue) = try supportOptions.resolved()
        var configuration = RunConfiguration(supports: supports, ignoreValue: ignoreValue, parameters: parameters,
                                             outputDirectory: out, maxPixels: supportOptions.maxPixels)
        configuration.pipelineName = definition.map { ($0.path as NSString).lastPathComponent } ?? "fssam"
        configuration.overlays = overlay
        configuration.probabilities = probabilities
        configuration.categoryID = categoryID
        configuration.shard = shard
        configuration.inputDescription = setup.inputDescription
        configuration.force = force
        for file in supports {
            _ = try Episode.load(query: file.image, supports: [file], ignoreValue: ignoreValue, decoder: supportOptions.decoder)
        }
        let directory = try setup.cacheDirectory  // checked before the slow weight loading; CacheStore creates it
        let (model, digests) = try weightOptions.loadModel()
        let store = try CacheStore(directory: directory)
        let display = ProgressDisplay(quiet: quiet)
        let summary: RunSummary
        do {
            let executor = try RunExecutor(model: model, weights: digests, store: store, configuration: configuration)
            if let shard {
                let part = shard.filter(listing)
                display.countTotal(part)
                summary = try await executor.run(part, folder: folder) { display.update($0) }
            } else {
                display.countTotal(listing)
                summary = try await executor.run(listing, folder: folder) { display.update($0) }
            }
            display.finish()
            try await store.flushAndClose()
        } catch {
            display.finish()
            try? await store.flushAndClose()
            throw error
        }
        print(json ? Self.json(summary) : Self.render(summary))
        if summary.failed > 0 { throw ExitCode(2) }
    }

    static let stageOrder = ["decode"] + FSSAMStage.all.map(\.name).filter { $0 != "decode" && $0 != "export" }

    static func render(_ summary: RunSummary) -> String {
        var lines = ["run \(summary.runID): \(summary.succeeded) ok, \(summary.failed) failed, "
                     + "\(summary.skippedAsDone) skipped as done in \(String(format: "%.1f", summary.seconds)) s, "
                     + "\(summary.bytesWritten) bytes of images written"]
        if summary.redelivered > 0 {
            lines.append("  \(summary.redelivered) done item(s) whose files were missing or changed in this --out: exported again from the cache")
        }
        if summary.unreadableDoneRecords > 0 {
            lines.append("  \(summary.unreadableDoneRecords) unreadable done-record(s): those items were computed again")
        }
        lines.append("  stage                  computed      hits   hit rate   compute s (both sides)")
        for side in [StageCounters.Side.support, .query] {
            for stage in stageOrder {
                let c = summary.counters.computed(stage, side), h = summary.counters.hits(stage, side)
                guard c + h > 0 else { continue }
                let name = "\(side.rawValue).\(stage)".padding(toLength: 22, withPad: " ", startingAt: 0)
                let rate = stage == "decode" ? "" : String(format: "%5.1f%%", 100 * Double(h) / Double(c + h))
                let seconds = side == .query ? String(format: "%9.2f", summary.counters.seconds[stage] ?? 0) : ""
                lines.append("  \(name) \(String(format: "%8d  %8d", c, h))  \(rate.padding(toLength: 8, withPad: " ", startingAt: 0)) \(seconds)")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// The summary for machines: totals, per stage and side computed / hits, compute seconds per stage.
    static func json(_ summary: RunSummary) -> String {
        var stages: [(String, String)] = []
        for stage in stageOrder {
            var fields: [(String, String)] = []
            for side in [StageCounters.Side.support, .query] {
                fields.append((side.rawValue, CanonicalJSON.object([
                    ("computed", String(summary.counters.computed(stage, side))),
                    ("hits", String(summary.counters.hits(stage, side))),
                ])))
            }
            fields.append(("seconds", String(format: "%.3f", summary.counters.seconds[stage] ?? 0)))
            stages.append((stage, CanonicalJSON.object(fields)))
        }
        return CanonicalJSON.object([
            ("run_id", CanonicalJSON.string(summary.runID)),
            ("items", CanonicalJSON.object([("ok", String(summary.succeeded)), ("failed", String(summary.failed)),
                                            ("skipped_as_done", String(summary.skippedAsDone)),
                                            ("redelivered", String(summary.redelivered)),
                                            ("unreadable_done_records", String(summary.unreadableDoneRecords))])),
            ("stages", CanonicalJSON.object(stages)),
            ("bytes_written", String(summary.bytesWritten)),
            ("seconds", String(format: "%.3f", summary.seconds)),
        ])
    }
}

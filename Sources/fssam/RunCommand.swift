import ArgumentParser
import Foundation
import Models
import Pipeline
import StageCache
import Tensor

/// `fssam run`: segment a folder of query images against one support set, cached per stage.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Segment every image of a folder from k support examples, caching each stage's output.",
        discussion: """
            Masks go to OUT/masks/<item>.png (0/255 at the query's size), one line per item to OUT/results.jsonl, \
            failures to OUT/errors.jsonl (both sorted by item id). An item is done when its mask and its outputs are \
            committed to the cache; a repeated run skips done items, and a re-tune (--set imr.iterations=2) is a new \
            run that reuses every cached stage upstream of the change.

            Example:
              fssam run --support cat1.jpg cat1.png --queries photos/ --out results/ --checkpoint best_1shot.pth
              fssam run --support cat1.jpg cat1.png --queries photos/ --out results-imr2/ --set imr.iterations=2 \\
                --checkpoint best_1shot.pth
            """)

    @OptionGroup var supportOptions: SupportOptions

    @Option(help: ArgumentHelp("Folder of query images (searched recursively, in a fixed order).", valueName: "dir"))
    var queries: String

    @Option(help: ArgumentHelp("Output folder.", valueName: "dir"))
    var out: String

    @Option(help: ArgumentHelp("Cache directory (default: $FSSAM_CACHE, else ./Cache).", valueName: "dir"))
    var cache: String?

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a stage parameter, e.g. imr.iterations=2 (repeatable).",
                                                         valueName: "stage.param=value"))
    var overrides: [String] = []

    @OptionGroup var weightOptions: WeightOptions

    @OptionGroup(title: "Sharding (clusters)") var shardOptions: ShardOptions

    func run() async throws {
        do { try await execute() } catch let e as ExitCode { throw e } catch {
            FileHandle.standardError.write(Data("fssam run: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }

    private func execute() async throws {
        supportOptions.applyThreads()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: queries, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CLIError("--queries \(queries): not a folder")
        }
        // Sharding: this process's part of the listing, written to OUT/shards/I-of-N/.
        let shard = try shardOptions.resolve()
        let out = shard?.partDirectory(in: self.out) ?? self.out
        let parameters = try RunParameters(overrides: try overrides.map { try PipelineOverride.parse($0) })
        let supports = supportOptions.files
        let configuration = RunConfiguration(supports: supports, ignoreValue: supportOptions.ignoreValue, parameters: parameters,
                                             outputDirectory: out, maxPixels: supportOptions.maxPixels)
        // Check the supports before loading weights (slow): decode with a throwaway validation.
        for file in supports {
            _ = try Episode.load(query: file.image, supports: [file], ignoreValue: supportOptions.ignoreValue,
                                 decoder: supportOptions.decoder)
        }
        let weights = try weightOptions.load()
        let model = try FSSAM(sam2: weights.sam2, dino: weights.dino)
        let digests = try StageWeightDigests(sam2: weights.sam2, dino: weights.dino)
        let directory = cache ?? ProcessInfo.processInfo.environment["FSSAM_CACHE"].flatMap { $0.isEmpty ? nil : $0 } ?? "./Cache"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        // run.json marks a finished run: a stale one must not vouch for this run while it is under way.
        unlink(out + "/" + RunManifest.fileName)
        let store = try CacheStore(directory: directory)
        let summary: RunSummary
        do {
            let executor = try RunExecutor(model: model, weights: digests, store: store, configuration: configuration)
            let listing = DirectoryListing(root: queries)
            if let shard { summary = try await executor.run(shard.filter(listing)) } else { summary = try await executor.run(listing) }
            try summary.writeReports(to: out)
            try await store.flushAndClose()
            try RunManifest(executor: executor, summary: summary, shard: shard).write(toDirectory: out)
        } catch {
            try? await store.flushAndClose()
            throw error
        }
        print(Self.render(summary))
        if summary.failed > 0 { throw ExitCode(2) }
    }

    static func render(_ summary: RunSummary) -> String {
        var lines = ["run \(summary.runID): \(summary.succeeded) ok, \(summary.failed) failed, \(summary.skippedAsDone) skipped as done"]
        lines.append("  stage                  computed      hits")
        for side in [StageCounters.Side.support, .query] {
            for stage in FSSAMStage.all.map(\.name) {
                let c = summary.counters.computed(stage, side), h = summary.counters.hits(stage, side)
                guard c + h > 0 else { continue }
                let name = "\(side.rawValue).\(stage)".padding(toLength: 22, withPad: " ", startingAt: 0)
                lines.append("  \(name) \(String(format: "%8d  %8d", c, h))")
            }
        }
        return lines.joined(separator: "\n")
    }
}

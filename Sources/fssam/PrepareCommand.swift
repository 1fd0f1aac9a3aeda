import ArgumentParser
import Foundation
import Models
import Pipeline
import StageCache

/// `fssam prepare`: the support set's stages computed once into a cache that is then copied to
/// every node, so no shard of a cluster run encodes the supports again.
struct PrepareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prepare",
        abstract: "Compute the support set's stages (encoders, memories) into a cache, to copy to every shard's node.",
        discussion: """
            Run it once with the same supports, weights and --set options as the sharded run, then give each node \
            a local copy (fssam cache copy, or cp of the quiescent cache folder): each shard then finds the support \
            encoders and memories in its own cache. LMDB caches belong on local disk, one per process; never share \
            one over NFS.

            Example:
              fssam prepare --support cat1.jpg cat1.png --cache prepared/ --checkpoint best_1shot.pth
              fssam cache copy --cache prepared/ /shared/fssam-supports   # compacted, to distribute
            """)

    @OptionGroup var supportOptions: SupportOptions

    @Option(help: ArgumentHelp("Cache directory to fill (default: $FSSAM_CACHE, else ./Cache).", valueName: "dir"))
    var cache: String?

    @Option(name: .customLong("set"), help: ArgumentHelp("A stage parameter override, as given to fssam run (repeatable).",
                                                         valueName: "stage.param=value"))
    var overrides: [String] = []

    @OptionGroup var weightOptions: WeightOptions

    func run() async throws {
        do { try await execute() } catch let e as ExitCode { throw e } catch {
            FileHandle.standardError.write(Data("fssam prepare: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }

    private func execute() async throws {
        supportOptions.applyThreads()
        let parameters = try RunParameters(overrides: try overrides.map { try PipelineOverride.parse($0) })
        let (supports, ignoreValue) = try supportOptions.resolved()
        // No items are run, so nothing is written under the output folder.
        let configuration = RunConfiguration(supports: supports, ignoreValue: ignoreValue,
                                             parameters: parameters, outputDirectory: ".", maxPixels: supportOptions.maxPixels)
        for file in supports {
            _ = try Episode.load(query: file.image, supports: [file], ignoreValue: ignoreValue, decoder: supportOptions.decoder)
        }
        let directory = try cacheDirectory(cache)  // checked before the slow weight loading; CacheStore creates it
        let (model, digests) = try weightOptions.loadModel()
        let store = try CacheStore(directory: directory)
        let counters: StageCounters
        let runID: String
        do {
            let executor = try RunExecutor(model: model, weights: digests, store: store, configuration: configuration)
            counters = try await executor.prepareSupports()
            runID = executor.runID
            try await store.flushAndClose()
        } catch {
            try? await store.flushAndClose()
            throw error
        }
        var lines = ["prepared \(supports.count) support(s) for run \(runID) in \(directory)"]
        for stage in FSSAMStage.all.map(\.name) {
            let c = counters.computed(stage, .support), h = counters.hits(stage, .support)
            guard c + h > 0 else { continue }
            lines.append("  support.\(stage): computed \(c), hits \(h)")
        }
        print(lines.joined(separator: "\n"))
    }
}

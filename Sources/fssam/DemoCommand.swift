import ArgumentParser
import Checkpoint
import Foundation
import Models
import Pipeline
import StageCache
import Tensor

/// `fssam demo [DIR]`: a self-contained tour. Generates a small synthetic dataset (one support
/// with its mask, a few query images), segments it with the default pipeline and deterministic
/// synthetic weights, then runs every item through the cache again to show each stage hit.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Generate a small synthetic dataset, segment it, then rerun it from the cache.",
        discussion: """
            Writes DIR/data (support.png, support-mask.png, queries/*.png), DIR/out (masks, predictions.json, \
            results.jsonl, run.json, overlays) and DIR/cache. Synthetic weights (fssam-synth-v1) are random: the \
            masks show the machinery, not a trained model. Real runs: fssam run --checkpoint best_1shot.pth ….
            """)

    @Argument(help: "Folder for the demo's data, outputs and cache.")
    var directory = "fssam-demo"

    @Option(help: "Number of query images to generate, \(OptionRange.text(OptionRange.demoQueries)).")
    var queries = 4

    @Option(help: "Compute threads, \(OptionRange.text(OptionRange.threads)) (default: all cores).")
    var threads: Int?

    func validate() throws {
        try OptionRange.check(queries, OptionRange.demoQueries, option: "queries")
        if let threads { try OptionRange.check(threads, OptionRange.threads, option: "threads") }
    }

    func run() async throws {
        do { try await execute() } catch let e as ExitCode { throw e } catch {
            FileHandle.standardError.write(Data("fssam demo: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }

    private func execute() async throws {
        if let threads { ComputeThreads.count = threads }
        let data = directory + "/data", out = directory + "/out", cache = directory + "/cache"
        try OutputLocation.prepareDirectory(directory, for: "demo folder \(directory)")
        let support = try DemoDataset.write(to: data, queries: queries)
        print("demo dataset: \(data) (1 support, \(queries) queries)")
        let source = "synthetic"
        let routed = try RoutedCheckpoint.load(path: source)
        let sam2 = try routed.stateDict(.sam2), dino = try routed.stateDict(.dinov2)
        let model = try FSSAM(sam2: sam2, dino: dino)
        let digests = try StageWeightDigests(sam2: sam2, dino: dino)
        let store = try CacheStore(directory: cache)
        do {
            var configuration = RunConfiguration(supports: [support], outputDirectory: out)
            configuration.overlays = true
            for (pass, title) in [(1, "first run (cold cache, or done items skipped)"), (2, "second run (every item through the cache)")] {
                configuration.skipDone = pass == 1
                let executor = try RunExecutor(model: model, weights: digests, store: store, configuration: configuration)
                let summary = try await executor.run(DirectoryListing(root: data + "/queries"))
                print("\n\(title):")
                print(RunCommand.render(summary))
            }
            try await store.flushAndClose()
        } catch {
            try? await store.flushAndClose()
            throw error
        }
        print("\nmasks: \(out)/masks  overlays: \(out)/overlays  COCO results: \(out)/predictions.json")
        print("explain an item: fssam explain q0.png --support \(support.image) \(support.mask) --queries \(data)/queries "
              + "--cache \(cache) --weights synthetic")
    }
}

import ArgumentParser
import Foundation
import Models
import Pipeline
import StageCache

/// `fssam explain ITEM`: why an item's outputs are (or are not) reused — per stage the key, its
/// preimage (parameters, input digests), hit or miss, and the stored size. Computes nothing.
struct ExplainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Show, per stage, an item's cache key, what it is made of, and whether the cache holds it.",
        discussion: """
            Give the same supports, inputs, pipeline, --set values, cache and weights as the run; ITEM is the item id \
            (its path relative to --queries, or its manifest id). Nothing is computed: explaining stops at the first \
            stage the cache does not hold, since the keys after it need its output.

            Example:
              fssam explain a/cat3.jpg --support cat1.jpg cat1.png --queries photos/ --checkpoint best_1shot.pth
            """)

    @Argument(help: "The item id.")
    var item: String

    @OptionGroup var supportOptions: SupportOptions
    @OptionGroup var setup: RunSetupOptions
    @OptionGroup var weightOptions: WeightOptions

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() async throws {
        do { try await execute() } catch {
            FileHandle.standardError.write(Data("fssam explain: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }

    private func execute() async throws {
        let listing = try setup.listing()
        let (_, parameters) = try setup.parameters()
        let (supports, ignoreValue) = try supportOptions.resolved()
        let directory = try setup.cacheDirectory
        guard FileManager.default.fileExists(atPath: directory + "/data.mdb") else {
            throw CLIError("no cache at \(directory) (no data.mdb there); pass --cache DIR or set FSSAM_CACHE")
        }
        let (model, digests) = try weightOptions.loadModel()
        // Explaining only reads: read-only works on a cache this user cannot write.
        var options = CacheOptions()
        options.access = .readOnly
        let store = try CacheStore(directory: directory, options: options)
        let configuration = RunConfiguration(supports: supports, ignoreValue: ignoreValue, parameters: parameters,
                                             outputDirectory: FileManager.default.temporaryDirectory.path,
                                             maxPixels: supportOptions.maxPixels)
        let explanation: ItemExplanation
        do {
            let executor = try RunExecutor(model: model, weights: digests, store: store, configuration: configuration)
            explanation = try await executor.explain(item: item, in: listing)
            try await store.flushAndClose()
        } catch {
            try? await store.flushAndClose()
            throw error
        }
        print(json ? Self.json(explanation) : Self.render(explanation))
    }

    static func render(_ e: ItemExplanation) -> String {
        var lines = ["item \(e.itemID) (\(e.path)) in run \(e.runID): "
                     + (e.done.map { $0.status == .succeeded ? "done" : "failed last time: \($0.message)" } ?? "not done")]
        for s in e.stages {
            let size = s.status == .hit ? "  stored \(formatBytes(s.storedBytes))" : ""
            let policy = s.persisted ? "persist" : "recompute"
            lines.append("")
            lines.append("\(s.side).\(s.stage): \(s.status.rawValue)\(size)  (policy: \(policy))")
            lines.append("  key:      \(s.key.digest.hex)")
            lines.append(s.key.explanation.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        }
        if let stop = e.stoppedAt {
            lines.append("")
            lines.append("\(stop) is not in the cache: it would be computed, and the stages after it need its output to be keyed.")
        }
        return lines.joined(separator: "\n")
    }

    static func json(_ e: ItemExplanation) -> String {
        let stages = e.stages.map { s in
            CanonicalJSON.object([
                ("stage", CanonicalJSON.string(s.stage)), ("side", CanonicalJSON.string(s.side)),
                ("status", CanonicalJSON.string(s.status.rawValue)), ("persisted", s.persisted ? "true" : "false"),
                ("key", CanonicalJSON.string(s.key.digest.hex)), ("version", String(s.key.version)),
                ("weights", s.key.weightsDigest.map { CanonicalJSON.string($0.hex) } ?? "null"),
                ("parameters", CanonicalJSON.object(s.key.parameters.keys.sorted().map { ($0, CanonicalJSON.string("\(s.key.parameters[$0]!)")) })),
                ("inputs", CanonicalJSON.object(s.key.inputs.keys.sorted().map { ($0, CanonicalJSON.string(s.key.inputs[$0]!.hex)) })),
                ("stored_bytes", String(s.storedBytes)),
            ])
        }
        return CanonicalJSON.object([
            ("item", CanonicalJSON.string(e.itemID)), ("path", CanonicalJSON.string(e.path)),
            ("run_id", CanonicalJSON.string(e.runID)),
            ("done", e.done.map { CanonicalJSON.string($0.status == .succeeded ? "succeeded" : "failed") } ?? "null"),
            ("stages", CanonicalJSON.array(stages)),
            ("stopped_at", e.stoppedAt.map(CanonicalJSON.string) ?? "null"),
        ])
    }
}

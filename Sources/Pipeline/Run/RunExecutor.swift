import Foundation
import Models
import StageCache
import Tensor

/// What `fssam run` does, fixed before the first item.
public struct RunConfiguration: Sendable {
    public var supports: [Episode.SupportFiles]
    public var ignoreValue: UInt16?
    public var parameters: RunParameters
    /// `--out`: masks go to `masks/…` (MaskFileLayout), reports beside them.
    public var outputDirectory: String
    public var maxPixels: Int

    public init(supports: [Episode.SupportFiles], ignoreValue: UInt16? = nil, parameters: RunParameters = try! RunParameters(),
                outputDirectory: String, maxPixels: Int = ImageDecoder.defaultMaxPixels) {
        self.supports = supports
        self.ignoreValue = ignoreValue
        self.parameters = parameters
        self.outputDirectory = outputDirectory
        self.maxPixels = maxPixels
    }
}

/// What a run did.
public struct RunSummary: Sendable {
    public var runID: String
    public var succeeded = 0
    public var failed = 0
    /// Items already done under this run id (by an earlier, possibly interrupted, run).
    public var skippedAsDone = 0
    public var counters = StageCounters()
    public var results: [ResultsLine] = []
    public var errors: [ErrorLine] = []
    /// The exact `results.jsonl` lines, by item id (a done item's line is re-emitted as recorded).
    var resultJSON: [(id: String, json: String)] = []

    /// `results.jsonl` and `errors.jsonl` under `directory`, canonical (sorted by item id), atomic.
    public func writeReports(to directory: String) throws {
        var out: [UInt8] = []
        for line in resultJSON.sorted(by: { ItemOrder.precedes($0.id, $1.id) }) { out += Array(line.json.utf8) + [10] }
        try AtomicFile.write(out, to: directory + "/results.jsonl")
        try JSONLinesWriter.write(errors, to: directory + "/errors.jsonl")
    }
}

/// The streaming executor of `fssam run`: one support set, a stream of query items.
///
/// Per item, every stage's key is looked up before it is computed; keys carry the output digests
/// of their inputs, so a hit downstream means the stages above it never run. An item is done when
/// its mask file is written and its final outputs and done-record are committed together
/// (`CacheStore.complete`); done items are skipped. A bad item is reported and the run goes on.
///
/// Items run one after another: the model's kernels already use every core, and one item's
/// tensors at a time keeps memory flat however many items there are.
public final class RunExecutor {
    public let store: CacheStore
    public let configuration: RunConfiguration
    /// Digest of the support set's content, the output-affecting parameters and the weights: a
    /// re-tune is a new run (its items are not done) that still reuses every unchanged stage.
    public let runID: String

    let resolver: StageResolver
    let stages: EpisodeStages
    let layout: MaskFileLayout
    let decoder: ImageDecoder

    /// Decodes and validates the supports (k ≥ 1, masks fit and have a target) before any model work.
    public init(model: FSSAM, weights: StageWeightDigests, store: CacheStore, configuration: RunConfiguration) throws {
        self.store = store
        self.configuration = configuration
        decoder = ImageDecoder(maxPixels: configuration.maxPixels)
        layout = MaskFileLayout(outputDirectory: configuration.outputDirectory)
        resolver = StageResolver(store: store, weights: weights, parameters: configuration.parameters)
        guard !configuration.supports.isEmpty else {
            throw PipelineError("--support", "at least one support example (IMAGE MASK) is needed")
        }
        var supports: [FSSAM.SupportInput] = []
        for file in configuration.supports {
            // Episode.load validates exactly as `fssam episode` does; the query slot is the support itself.
            let episode = try Episode.load(query: file.image, supports: [file], ignoreValue: configuration.ignoreValue,
                                           decoder: decoder)
            resolver.countDecode(.support)
            supports.append(episode.supports[0])
        }
        stages = try EpisodeStages(model: model, store: store, resolver: resolver, supports: supports)
        var identity = Array("FSSAM-RUN-ID-1\n".utf8)
        identity += Array(configuration.parameters.canonicalText.utf8) + [10]
        for d in stages.supportImageDigests { identity += d.bytes }
        identity += stages.supportMaskDigest.bytes
        for name in weights.digests.keys.sorted() { identity += Array(name.utf8) + [0] + weights.digests[name]!.bytes }
        runID = "run-" + String(Digest.sha256(identity).hex.prefix(32))
    }

    public var counters: StageCounters { resolver.counters }

    /// `fssam prepare`: computes (or finds) the support-set stages and commits them, without any
    /// query, so every shard started from a copy of this cache skips the support encoders.
    public func prepareSupports() async throws -> StageCounters {
        try await stages.resolveSupports()
        try await store.flush()
        return resolver.counters
    }

    /// Runs every entry of `inputs` (streamed: nothing holds the whole list).
    public func run<Inputs: Sequence>(_ inputs: Inputs) async throws -> RunSummary where Inputs.Element == InputEntry {
        var summary = RunSummary(runID: runID)
        for entry in inputs {
            switch entry {
            case .failure(let failure):
                summary.failed += 1
                summary.errors.append(ErrorLine(id: failure.id ?? failure.source, path: failure.source, stage: "input",
                                                reason: failure.reason))
            case .item(let item):
                if let done = try store.doneRecord(run: runID, item: item.id), done.status == .succeeded {
                    summary.skippedAsDone += 1
                    summary.resultJSON.append((item.id, done.message))
                    continue
                }
                do {
                    let line = try await process(item)
                    summary.succeeded += 1
                    summary.results.append(line)
                } catch let e as CacheError {
                    throw e
                } catch {
                    // Only the cache failing stops the run; anything about this item is this item's.
                    let failure = error as? ItemFailure ?? ItemFailure(stage: "model", reason: "\(error)")
                    summary.failed += 1
                    let line = ErrorLine(id: item.id, path: item.path, stage: failure.stage, reason: failure.reason)
                    summary.errors.append(line)
                    try await store.complete(run: runID, item: item.id, records: [], outputs: [:], status: .failed,
                                             message: try line.json())
                }
            }
        }
        try await store.flush()
        summary.counters = resolver.counters
        summary.resultJSON += try summary.results.map { ($0.id, try $0.json()) }
        return summary
    }

    /// An item-level failure: which stage, why. Anything else (cache I/O) stops the run.
    struct ItemFailure: Error {
        let stage: String
        let reason: String
    }

    private func stage<T>(_ name: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as ItemFailure { throw e } catch let e as CacheError { throw e } catch {
            throw ItemFailure(stage: name, reason: "\(error)")
        }
    }

    // MARK: one query item

    private func process(_ item: InputItem) async throws -> ResultsLine {
        let started = DispatchTime.now().uptimeNanoseconds
        let hitsBefore = resolver.counters
        let rgb = try stage("decode") { try decoder.decodeFile(item.path) }
        resolver.countDecode(.query)
        let result = try await stages.query(image: ModelInput.image(rgb))

        let mask = MaskPostprocessing.binaryMask(logits: result.logits, height: rgb.height, width: rgb.width)
        let png = try stage("export") {
            try ImageEncoder.png(width: rgb.width, height: rgb.height, bands: 1, pixels: mask.map { $0 == 0 ? 0 : 255 })
        }
        try stage("export") { try AtomicFile.write(png, to: try layout.maskPath(forItem: item.id)) }

        var itemHits: [String: Int] = [:]
        for stageName in FSSAMStage.all.map(\.name) {
            let n = resolver.counters.hits(stageName, .query) - hitsBefore.hits(stageName, .query)
            if n > 0 { itemHits[stageName] = n }
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        let line = ResultsLine(id: item.id, status: result.decodeRecord != nil ? "computed" : "cached", maskPNG: png,
                               area: mask.reduce(0) { $0 + Int($1) }, seconds: (seconds * 1000).rounded() / 1000,
                               cacheHits: itemHits)
        try await store.complete(run: runID, item: item.id, records: [result.decodeRecord].compactMap { $0 },
                                 outputs: ["logits": result.logitsDigest,
                                           "mask_png": BlobDigest.of(CacheTensor(bytes: png))],
                                 status: .succeeded, message: try line.json())
        return line
    }
}

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
    public let model: FSSAM
    public let store: CacheStore
    public let configuration: RunConfiguration
    /// Digest of the support set's content, the output-affecting parameters and the weights: a
    /// re-tune is a new run (its items are not done) that still reuses every unchanged stage.
    public let runID: String

    let resolver: StageResolver
    let layout: MaskFileLayout
    let decoder: ImageDecoder
    let calibration: SupportCalibration
    private let supportImages: [Tensor]
    private let supportMasks: [Tensor]
    private let supportImageDigests: [Digest]
    private let supportMaskDigest: Digest
    private var supportState: Supports?

    struct Supports {
        let dino: [StageOutput]
        let memories: [StageOutput]
        let dinoDigest: Digest
        let memoryDigest: Digest
    }

    /// Decodes and validates the supports (k ≥ 1, masks fit and have a target) before any model work.
    public init(model: FSSAM, weights: StageWeightDigests, store: CacheStore, configuration: RunConfiguration) throws {
        guard let calibration = SupportCalibration(rawValue: configuration.parameters.calibration) else {
            throw PipelineError("scma.calibration", "unknown calibration '\(configuration.parameters.calibration)'")
        }
        self.model = model
        self.store = store
        self.configuration = configuration
        self.calibration = calibration
        decoder = ImageDecoder(maxPixels: configuration.maxPixels)
        layout = MaskFileLayout(outputDirectory: configuration.outputDirectory)
        resolver = StageResolver(store: store, weights: weights, parameters: configuration.parameters)
        var images: [Tensor] = [], masks: [Tensor] = [], imageDigests: [Digest] = [], maskDigests: [String: Digest] = [:]
        for (i, file) in configuration.supports.enumerated() {
            // Episode.load validates exactly as `fssam episode` does; the query slot is the support itself.
            let episode = try Episode.load(query: file.image, supports: [file], ignoreValue: configuration.ignoreValue,
                                           decoder: decoder)
            resolver.countDecode(.support)
            let support = episode.supports[0]
            images.append(support.image)
            masks.append(FSSAM.binaryMask(support.label))
            imageDigests.append(BlobDigest.of(CacheTensor(support.image)))
            maskDigests[Self.index(i)] = BlobDigest.of(CacheTensor(shape: [ModelInput.size, ModelInput.size], bytes: support.label))
        }
        guard !images.isEmpty else { throw PipelineError("--support", "at least one support example (IMAGE MASK) is needed") }
        supportImages = images
        supportMasks = masks
        supportImageDigests = imageDigests
        supportMaskDigest = StageOutput.combine(maskDigests)
        var identity = Array("FSSAM-RUN-ID-1\n".utf8)
        identity += Array(configuration.parameters.canonicalText.utf8) + [10]
        for d in imageDigests { identity += d.bytes }
        identity += supportMaskDigest.bytes
        for name in weights.digests.keys.sorted() { identity += Array(name.utf8) + [0] + weights.digests[name]!.bytes }
        runID = "run-" + String(Digest.sha256(identity).hex.prefix(32))
    }

    public var counters: StageCounters { resolver.counters }

    static func index(_ i: Int) -> String { String(format: "%05d", i) }

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

    // MARK: supports (resolved once, on the first item that is not done)

    private func supports() async throws -> Supports {
        if let supportState { return supportState }
        var dino: [StageOutput] = [], memories: [StageOutput] = [], dinoDigests: [String: Digest] = [:],
            memoryDigests: [String: Digest] = [:]
        for (i, image) in supportImages.enumerated() {
            let imageDigest = supportImageDigests[i]
            let d = try resolver.resolve(.dinoFeatures, side: .support, inputs: ["image": imageDigest], persist: true) { [model] in
                ["features": CacheTensor(model.dinoFeatures(image))]
            }
            let s = try resolver.resolve(.sam2Features, side: .support, inputs: ["image": imageDigest], persist: true) { [model] in
                Self.tensors(model.sam2Features(image))
            }
            let mask = supportMasks[i]
            let sam2 = s.output
            let m = try resolver.resolve(.memoryEncode, side: .support,
                                         inputs: ["features": sam2.digest, "support_mask": BlobDigest.of(CacheTensor(mask))],
                                         persist: true) { [model] in
                let memory = try model.heads.encodeMaskMemory(masks: mask, visionFeatures: Self.batched(try sam2.tensor("feat")))
                return ["features": CacheTensor(memory.features), "pos_enc": CacheTensor(memory.posEnc),
                        "obj_ptr": CacheTensor(memory.objPtr)]
            }
            for p in [d.prepared, s.prepared, m.prepared].compactMap({ $0 }) { try await store.put(p) }
            dino.append(d.output); memories.append(m.output)
            dinoDigests[Self.index(i)] = d.output.digest
            memoryDigests[Self.index(i)] = m.output.digest
        }
        let state = Supports(dino: dino, memories: memories, dinoDigest: StageOutput.combine(dinoDigests),
                             memoryDigest: StageOutput.combine(memoryDigests))
        supportState = state
        return state
    }

    static func tensors(_ f: BackboneFeatures) -> [String: CacheTensor] {
        ["feat_s0": CacheTensor(f.featS0), "feat_s1": CacheTensor(f.featS1), "feat": CacheTensor(f.feat), "pos": CacheTensor(f.pos)]
    }

    static func batched(_ x: Tensor) -> Tensor { x.rank == 3 ? x.reshaped([1] + x.shape) : x }

    // MARK: one query item

    private func process(_ item: InputItem) async throws -> ResultsLine {
        let started = DispatchTime.now().uptimeNanoseconds
        let hitsBefore = resolver.counters
        let rgb = try stage("decode") { try decoder.decodeFile(item.path) }
        resolver.countDecode(.query)
        let image = ModelInput.image(rgb)
        let imageDigest = BlobDigest.of(CacheTensor(image))
        let supports = try await supports()
        let model = self.model, masks = supportMasks, calibration = self.calibration
        let iterations = configuration.parameters.refineIterations

        let queryDino = try resolver.resolve(.dinoFeatures, side: .query, inputs: ["image": imageDigest], persist: false) {
            ["features": CacheTensor(model.dinoFeatures(image))]
        }
        let qDino = queryDino.output
        let priorsR = try resolver.resolve(.priors, side: .query,
                                           inputs: ["query_dino": qDino.digest, "support_dino": supports.dinoDigest,
                                                    "support_mask": supportMaskDigest], persist: true) {
            let shots = try zip(supports.dino, masks).map { (feature: try $0.tensor("features"), mask: $1) }
            let priors = model.priors(query: try qDino.tensor("features"), supports: shots)
            return ["foreground": CacheTensor(priors.foreground), "discriminative": CacheTensor(priors.discriminative)]
        }
        let priors = priorsR.output
        let querySam2 = try resolver.resolve(.sam2Features, side: .query, inputs: ["image": imageDigest], persist: false) {
            Self.tensors(model.sam2Features(image))
        }
        let qSam2 = querySam2.output
        let memoryR = try resolver.resolve(.memoryEncode, side: .query,
                                           inputs: ["features": qSam2.digest, "priors": priors.digest], persist: true) {
            let feat = Self.batched(try qSam2.tensor("feat"))
            let fg = try model.heads.encodeMaskMemory(masks: try priors.tensor("foreground"), visionFeatures: feat)
            let disc = try model.heads.encodeMaskMemory(masks: try priors.tensor("discriminative"), visionFeatures: feat)
            return ["fg.features": CacheTensor(fg.features), "disc.features": CacheTensor(disc.features),
                    "disc.pos_enc": CacheTensor(disc.posEnc), "disc.obj_ptr": CacheTensor(disc.objPtr)]
        }
        let qMemory = memoryR.output
        // IMR reads the supports' memories and masks too, so they are inputs of its key.
        let imrR = try resolver.resolve(.imr, side: .query,
                                        inputs: ["memory": qMemory.digest, "priors": priors.digest,
                                                 "support_memory": supports.memoryDigest, "support_mask": supportMaskDigest],
                                        persist: true) {
            let result = try IterativeMemoryRefinement(iterations: iterations)(
                supportMemories: try supports.memories.map { try $0.tensor("features") },
                supportMasks: masks.map { IterativeMemoryRefinement.downsample($0) },
                queryForegroundMemory: try qMemory.tensor("fg.features"), queryDiscMemory: try qMemory.tensor("disc.features"),
                foregroundPrior: IterativeMemoryRefinement.downsample(try priors.tensor("foreground")),
                discPrior: IterativeMemoryRefinement.downsample(try priors.tensor("discriminative")))
            return ["refined": CacheTensor(result.refinedMemory)]
        }
        let refined = imrR.output
        let scmaR = try resolver.resolve(.scma, side: .query,
                                         inputs: ["query_features": qSam2.digest, "support_memory": supports.memoryDigest,
                                                  "refined_memory": refined.digest, "query_memory": qMemory.digest,
                                                  "support_mask": supportMaskDigest], persist: false) {
            let bank = try MemoryBank(
                supports: try supports.memories.map {
                    MemoryBank.Entry(features: try $0.tensor("features"), position: try $0.tensor("pos_enc"),
                                     objectPointer: try $0.tensor("obj_ptr"))
                },
                query: MemoryBank.Entry(features: try refined.tensor("refined"), position: try qMemory.tensor("disc.pos_enc"),
                                        objectPointer: try qMemory.tensor("disc.obj_ptr")),
                temporalPosition: model.temporalPosition)
            let out = try model.memoryAttention(current: try qSam2.tensor("feat"), currentPos: try qSam2.tensor("pos"), bank: bank,
                                                supportMasks: masks.map { MemoryBank.calibrationMask($0) },
                                                calibration: calibration)
            return ["fused": CacheTensor(out.fused)]
        }
        let fused = scmaR.output
        let decodeR = try resolver.resolve(.decodeMask, side: .query,
                                           inputs: ["fused": fused.digest, "query_features": qSam2.digest], persist: true) {
            let final = try model.heads.decodeFinalMasks(fused: try fused.tensor("fused"),
                                                         featS0: Self.batched(try qSam2.tensor("feat_s0")),
                                                         featS1: Self.batched(try qSam2.tensor("feat_s1")))
            return ["logits": CacheTensor(final.logits.reshaped([ModelInput.size, ModelInput.size])),
                    "ious": CacheTensor(final.ious)]
        }
        let logits = try stage("decode_mask") { try decodeR.output.tensor("logits") }
        for p in [queryDino.prepared, priorsR.prepared, querySam2.prepared, memoryR.prepared, imrR.prepared, scmaR.prepared]
            .compactMap({ $0 }) { try await store.put(p) }

        let mask = MaskPostprocessing.binaryMask(logits: logits, height: rgb.height, width: rgb.width)
        let png = try stage("export") {
            try ImageEncoder.png(width: rgb.width, height: rgb.height, bands: 1, pixels: mask.map { $0 == 0 ? 0 : 255 })
        }
        try stage("export") { try AtomicFile.write(png, to: try layout.maskPath(forItem: item.id)) }

        var itemHits: [String: Int] = [:]
        for stageName in FSSAMStage.all.map(\.name) {
            let n = resolver.counters.hits(stageName, .query) - hitsBefore.hits(stageName, .query)
            if n > 0 { itemHits[stageName] = n }
        }
        let computedDecodeMask = decodeR.prepared != nil
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        let line = ResultsLine(id: item.id, status: computedDecodeMask ? "computed" : "cached", maskPNG: png,
                               area: mask.reduce(0) { $0 + Int($1) }, seconds: (seconds * 1000).rounded() / 1000,
                               cacheHits: itemHits)
        try await store.complete(run: runID, item: item.id, records: [decodeR.prepared].compactMap { $0 },
                                 outputs: ["logits": decodeR.output.digest,
                                           "mask_png": BlobDigest.of(CacheTensor(bytes: png))],
                                 status: .succeeded, message: try line.json())
        return line
    }
}

import Models
import StageCache
import Tensor

/// One episode's decoded inputs, prepared as the authors' test loader gives them (spec §3).
public struct EvalInputs {
    public var episode: EvalEpisode
    /// `[3, 512, 512]` RGB 0…255 (OpenCV INTER_LINEAR).
    public var query: Tensor
    public var queryWidth: Int
    public var queryHeight: Int
    /// The query label binarised for the class at the original size: 0 / 1 / 255.
    public var target: [UInt8]
    /// Model order; labels 0 / 1 / 255 at 512² (INTER_NEAREST).
    public var supports: [FSSAM.SupportInput]
}

/// Produces an episode's binary predictions at the query's original size, one per setting.
/// The model-backed one is `ModelPredictor`; tests put an oracle here to check the metrics.
public protocol EvalPredictor: AnyObject {
    func masks(_ inputs: EvalInputs, settings: [RunParameters]) async throws -> [[UInt8]]
    /// The episodes of one query image are over: drop what was kept for it.
    func queryFinished()
}

/// FSSAM through the stage cache: each episode is an `EpisodeStages` (its support set), every
/// stage looked up before it is computed. Every image's encoder outputs persist (the settings come
/// from `EvalSetting.sweep`), so an image seen in any earlier episode — as query or support —,
/// fold run, seed or sweep is not re-encoded; a sweep resolves everything upstream of IMR once
/// per episode.
public final class ModelPredictor: EvalPredictor {
    let model: FSSAM
    let store: CacheStore
    let resolver: StageResolver

    public init(model: FSSAM, weights: StageWeightDigests, store: CacheStore, parameters: RunParameters) {
        self.model = model
        self.store = store
        resolver = StageResolver(store: store, weights: weights, parameters: parameters)
        resolver.retainsEphemeral = true
    }

    public var counters: StageCounters { resolver.counters }

    public func masks(_ inputs: EvalInputs, settings: [RunParameters]) async throws -> [[UInt8]] {
        for _ in inputs.supports { resolver.countDecode(.support) }
        resolver.countDecode(.query)
        let stages = try EpisodeStages(model: model, store: store, resolver: resolver, supports: inputs.supports)
        let results = try await stages.query(image: inputs.query, settings: settings)
        // Eval has no done-records: decode_mask's records are queued like the others.
        for record in results.compactMap(\.decodeRecord) { try await store.put(record) }
        // Bilinear align_corners=True to the original size, then float32 sigmoid ≥ 0.5: the operation
        // the authors' test.py runs (spec §3). The spec calls it "equivalent to logit ≥ 0"; it differs
        // only for negative logits above about -3e-8, which float32 sigmoid rounds to 0.5 (target).
        return results.map { MaskPostprocessing.binaryMask(logits: $0.logits, height: inputs.queryHeight, width: inputs.queryWidth) }
    }

    public func queryFinished() { resolver.releaseRetained() }

    public func flush() async throws { try await store.flush() }
}

import Foundation
import StageCache
import Tensor

/// Looks a stage's key up before computing it, computes on a miss, and stores what the
/// persistence policy keeps.
///
/// A persisted stage's record gives the output digests without reading a blob. A stage that is
/// not persisted (query encoder features, SCMA's fused map) still leaves a 32-byte memo, key →
/// output digest under the stage name `<stage>#digest`, so a later run can build the downstream
/// keys (early cutoff) without recomputing it; its tensors are recomputed only if a downstream
/// stage misses and needs them.
final class StageResolver {
    let store: CacheStore
    let weights: StageWeightDigests
    let parameters: RunParameters
    private(set) var counters = StageCounters()
    /// When set (`fssam explain`), every lookup is recorded here, and a miss stops the item with
    /// `ExplainStop` instead of computing: explaining never runs the model.
    var explanations: [StageExplanation]?

    struct ExplainStop: Error { let stage: String }

    /// When set, outputs of stages that are not persisted, and those computed by this resolver
    /// whose records may still be queued (not yet readable from the cache), stay in memory, by
    /// key, until `releaseRetained()`: `fssam eval` keeps one query image's encoder features while
    /// it runs that image's episodes (other support sets, sweep values) instead of recomputing them.
    /// Off for `fssam run`, whose queries are each seen once.
    var retainsEphemeral = false
    private var retained: [Digest: StageOutput] = [:]

    init(store: CacheStore, weights: StageWeightDigests, parameters: RunParameters) {
        self.store = store
        self.weights = weights
        self.parameters = parameters
    }

    struct Resolved {
        let output: StageOutput
        /// A record prepared on a miss of a persisted stage, not yet queued: the caller queues it
        /// (`put`), or commits it with the item's done-record.
        let prepared: PreparedRecord?
    }

    /// `parameters` overrides the resolver's own (a sweep resolves the stages downstream of its
    /// parameter once per value).
    func key(_ stage: FSSAMStage, inputs: [String: Digest], parameters: RunParameters? = nil) -> StageKey {
        stage.key(parameters: (parameters ?? self.parameters)[stage.parameterStage], inputs: inputs, weights: weights)
    }

    func releaseRetained() { retained.removeAll() }

    /// `stage` on `side`, kept in the cache when the run's persistence policy says so.
    func resolve(_ stage: FSSAMStage, side: StageCounters.Side, inputs: [String: Digest], parameters: RunParameters? = nil,
                 compute: @escaping () throws -> [String: CacheTensor]) throws -> Resolved {
        try resolve(stage, side: side, inputs: inputs, persist: (parameters ?? self.parameters).persists(stage.name, side),
                    parameters: parameters, compute: compute)
    }

    func resolve(_ stage: FSSAMStage, side: StageCounters.Side, inputs: [String: Digest], persist: Bool,
                 parameters: RunParameters? = nil,
                 compute: @escaping () throws -> [String: CacheTensor]) throws -> Resolved {
        let key = key(stage, inputs: inputs, parameters: parameters)
        let counted: () throws -> [String: CacheTensor] = { [unowned self] in
            let started = DispatchTime.now().uptimeNanoseconds
            let outputs = try ModelThread.run(compute)
            counters.countComputed(stage.name, side, seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
            return outputs
        }
        if explanations != nil { return try explain(stage, side: side, key: key, persist: persist) }
        if retainsEphemeral, let kept = retained[key.digest] {
            counters.countHit(stage.name, side)
            return Resolved(output: kept, prepared: nil)
        }
        if persist {
            if let record = try? store.usedRecord(key.digest, stage: stage.name) {
                counters.countHit(stage.name, side)
                let digest = StageOutput.combine(Dictionary(uniqueKeysWithValues: record.outputs.map { ($0.name, $0.digest) }))
                // A record whose blobs turn out bad is a miss: recompute (lookup has logged it).
                return Resolved(output: StageOutput(digest: digest) { [store] in try store.lookup(key, countsUse: false)?.outputs ?? counted() },
                                prepared: nil)
            }
            let outputs = try counted()
            let prepared = try store.prepare(key, outputs: outputs)
            let output = StageOutput(digest: StageOutput.combine(prepared.outputDigests), tensors: outputs)
            if retainsEphemeral { retained[key.digest] = output }
            return Resolved(output: output, prepared: prepared)
        }
        let memoKey = Self.memoKey(key)
        if let memo = store.lookup(memoKey)?.outputs["digest"]?.bytes, memo.count == Digest.byteCount {
            counters.countHit(stage.name, side)
            let output = StageOutput(digest: Digest(bytes: memo), produce: counted)
            if retainsEphemeral { retained[key.digest] = output }
            return Resolved(output: output, prepared: nil)
        }
        let outputs = try counted()
        let digest = StageOutput.combine(StageOutput.digests(of: outputs))
        let output = StageOutput(digest: digest, tensors: outputs)
        if retainsEphemeral { retained[key.digest] = output }
        return Resolved(output: output,
                        prepared: try store.prepare(memoKey, outputs: ["digest": CacheTensor(bytes: digest.bytes)]))
    }

    /// Where a non-persisted stage's output digest is remembered: its key under `<stage>#digest`.
    static func memoKey(_ key: StageKey) -> StageKey {
        var memo = key
        memo.stage = key.stage + "#digest"
        return memo
    }

    private func explain(_ stage: FSSAMStage, side: StageCounters.Side, key: StageKey, persist: Bool) throws -> Resolved {
        let memoKey = Self.memoKey(key)
        let record = try store.record(key.digest)
        let memo = persist ? nil : store.lookup(memoKey)?.outputs["digest"]?.bytes
        var entry = StageExplanation(stage: stage.name, side: side.rawValue, key: key, persisted: persist,
                                     status: .miss, storedBytes: record?.storedBytes ?? 0)
        if let record {
            entry.status = .hit
            explanations!.append(entry)
            let digest = StageOutput.combine(Dictionary(uniqueKeysWithValues: record.outputs.map { ($0.name, $0.digest) }))
            return Resolved(output: StageOutput(digest: digest) { [store] in
                guard let hit = store.lookup(key) else { throw ExplainStop(stage: stage.name) }
                return hit.outputs
            }, prepared: nil)
        }
        if let memo, memo.count == Digest.byteCount {
            entry.status = .digestOnly
            explanations!.append(entry)
            return Resolved(output: StageOutput(digest: Digest(bytes: memo)) { throw ExplainStop(stage: stage.name) }, prepared: nil)
        }
        explanations!.append(entry)
        throw ExplainStop(stage: stage.name)
    }

    func countDecode(_ side: StageCounters.Side, seconds: Double = 0) { counters.countComputed("decode", side, seconds: seconds) }

    /// A decode its memo stood in for (`DecodeMemo`).
    func countDecodeHit(_ side: StageCounters.Side) { counters.countHit("decode", side) }
}

import Checkpoint
import StageCache
import Tensor

/// Each stage's weights digest for one loaded model, computed once at load time (hashing the
/// ≈ 530 MB of SAM 2 Hiera-S + DINOv2-B takes a fraction of a second) and then only looked up
/// while keys are built. Immutable, so every worker shares one.
public struct StageWeightDigests: Sendable {
    /// Stage name → digest of exactly the tensors its `weights` selection names. Stages that read no
    /// weights are absent.
    public let digests: [String: Digest]

    /// `tensors` in the combined namespace (`sam2.*`, `dino.*`). A selection that names no tensor
    /// present is a load error rather than a digest of nothing: it means the weights are not the
    /// ones the stage reads.
    public init(tensors: [String: Tensor], stages: [any Stage]) throws {
        var selected: [String: [String]] = [:]
        var used = Set<String>()
        for stage in stages where !stage.weights.isEmpty {
            let names = tensors.keys.filter { stage.weights.contains($0) }
            guard !names.isEmpty else {
                throw PipelineError("stage '\(stage.name)'",
                                    "reads weights \(stage.weights.including) but the model has none of them")
            }
            selected[stage.name] = names
            used.formUnion(names)
        }
        // Each used tensor is hashed once even when several stages read it (sam_mask_decoder).
        let order = Array(used)
        let valueDigests = WeightsDigest.valueDigests(order.map { tensors[$0]! })
        let byName = Dictionary(uniqueKeysWithValues: zip(order, valueDigests))
        digests = selected.mapValues { names in
            WeightsDigest.combine(Dictionary(uniqueKeysWithValues: names.map {
                ($0, (shape: tensors[$0]!.shape, values: byName[$0]!))
            }))
        }
    }

    /// The two networks' state dicts as `FSSAM.init(sam2:dino:)` receives them.
    public init(sam2: StateDict, dino: StateDict, stages: [any Stage] = FSSAMStage.all) throws {
        try self.init(tensors: Self.combined(sam2: sam2, dino: dino), stages: stages)
    }

    /// The combined namespace: every key with its network's routed prefix (`sam2.`, `dino.`).
    public static func combined(sam2: StateDict, dino: StateDict) -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (dict, family) in [(sam2, ModelFamily.sam2), (dino, .dinov2)] {
            for key in dict.keys { out[family.routedPrefix + key] = dict[key]! }
        }
        return out
    }

    public subscript(stage: String) -> Digest? { digests[stage] }
}

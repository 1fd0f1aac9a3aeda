import Foundation
import Models
import StageCache
import Tensor

/// The FSSAM forward pass of one support set, as cached stages: the support side resolved once,
/// then any number of queries through dino_features → priors → sam2_features → memory_encode →
/// imr → scma → decode_mask. `fssam run` drives it over a stream of items, `fssam eval` over
/// episodes; both get the same keys, so one tool's cache serves the other.
///
/// Every stage's key is looked up before it is computed; keys carry the output digests of their
/// inputs, so a hit downstream means the stages above it never run.
public final class EpisodeStages {
    public let model: FSSAM
    let store: CacheStore
    let resolver: StageResolver
    let calibration: SupportCalibration
    let supportImages: [Tensor]
    let supportMasks: [Tensor]
    /// The support masks as IMR (bilinear) and the calibration (nearest) read them at 32², made once.
    let refinementMasks: [Tensor]
    let calibrationMasks: [Tensor]
    /// Digests of the supports' model-size images, in model order.
    public let supportImageDigests: [Digest]
    /// One digest of all support labels (0/1/ignore bytes at the model size), in model order.
    public let supportMaskDigest: Digest
    /// Each support's label digest, in model order (what `run.json` lists per support).
    public let supportMaskDigests: [Digest]
    private var supportState: Supports?

    struct Supports {
        let dino: [StageOutput]
        let memories: [StageOutput]
        let dinoDigest: Digest
        let memoryDigest: Digest
    }

    /// A query's decoded mask logits and what it took.
    public struct QueryResult {
        /// `[512, 512]` logits of the final mask at the model size.
        public let logits: Tensor
        public let logitsDigest: Digest
        /// The decoder's predicted IoU of the chosen mask (the largest of the three), in [0, 1]:
        /// the `score` of a COCO prediction.
        public let score: Double
        /// decode_mask's record when it was computed (not yet committed): the caller commits it
        /// with the item's done-record, or queues it.
        public let decodeRecord: PreparedRecord?
    }

    /// `supports` are the model inputs of the support examples (image at 512², label bytes with 0 /
    /// 1 / ignore). Counts a support decode for each (the caller decoded them).
    init(model: FSSAM, store: CacheStore, resolver: StageResolver, supports: [FSSAM.SupportInput]) throws {
        guard let calibration = SupportCalibration(rawValue: resolver.parameters.calibration) else {
            throw PipelineError("scma.calibration", "unknown calibration '\(resolver.parameters.calibration)'")
        }
        guard !supports.isEmpty else { throw PipelineError("--support", "at least one support example (IMAGE MASK) is needed") }
        self.model = model
        self.store = store
        self.resolver = resolver
        self.calibration = calibration
        var maskDigests: [String: Digest] = [:]
        for (i, support) in supports.enumerated() {
            maskDigests[Self.index(i)] = BlobDigest.of(CacheTensor(shape: [ModelInput.size, ModelInput.size], bytes: support.label))
        }
        supportImages = supports.map(\.image)
        supportMasks = supports.map { FSSAM.binaryMask($0.label) }
        refinementMasks = supportMasks.map { IterativeMemoryRefinement.downsample($0) }
        calibrationMasks = supportMasks.map { MemoryBank.calibrationMask($0) }
        supportImageDigests = supports.map { BlobDigest.of(CacheTensor($0.image)) }
        supportMaskDigest = StageOutput.combine(maskDigests)
        supportMaskDigests = supports.indices.map { maskDigests[Self.index($0)]! }
    }

    static func index(_ i: Int) -> String { String(format: "%05d", i) }

    static func tensors(_ f: BackboneFeatures) -> [String: CacheTensor] {
        ["feat_s0": CacheTensor(f.featS0), "feat_s1": CacheTensor(f.featS1), "feat": CacheTensor(f.feat), "pos": CacheTensor(f.pos)]
    }

    /// `MemoryAttention.Prefix` as stored by scma_prefix, and back.
    static func tensors(_ p: MemoryAttention.Prefix) -> [String: CacheTensor] {
        let s = p.fixedSegment
        return ["after_self_attention": CacheTensor(p.afterSelfAttention),
                "row_max": CacheTensor(Tensor(shape: [s.queries], storage: s.rowMax)),
                "row_sum": CacheTensor(Tensor(shape: [s.queries], storage: s.rowSum)),
                "weighted": CacheTensor(Tensor(shape: [s.queries, s.valueDim], storage: s.weighted))]
    }

    static func prefix(_ output: StageOutput) throws -> MemoryAttention.Prefix {
        let weighted = try output.tensor("weighted")
        guard weighted.rank == 2 else { throw PipelineError("scma_prefix", "stored weighted memory has shape \(weighted.shape)") }
        let (rowMax, rowSum) = (try output.tensor("row_max"), try output.tensor("row_sum"))
        guard rowMax.count == weighted.shape[0], rowSum.count == weighted.shape[0] else {
            throw PipelineError("scma_prefix", "stored row statistics \(rowMax.shape), \(rowSum.shape) do not fit \(weighted.shape)")
        }
        return MemoryAttention.Prefix(
            afterSelfAttention: try output.tensor("after_self_attention"),
            fixedSegment: AttentionSegment(queries: weighted.shape[0], valueDim: weighted.shape[1], rowMax: rowMax.storage,
                                           rowSum: rowSum.storage, weighted: weighted.storage))
    }

    static func batched(_ x: Tensor) -> Tensor { x.rank == 3 ? x.reshaped([1] + x.shape) : x }

    /// decode_mask's stored low-resolution logits to the model size, as `SAM2Heads.decodeFinalMasks`
    /// upsamples them (bilinear, align_corners=False).
    static func modelSizeLogits(_ lowRes: Tensor) -> Tensor {
        let (h, w) = (lowRes.shape[lowRes.rank - 2], lowRes.shape[lowRes.rank - 1])
        return Resampling.bilinear(lowRes.reshaped([1, 1, h, w]), height: ModelInput.size, width: ModelInput.size,
                                   alignCorners: false).reshaped([ModelInput.size, ModelInput.size])
    }

    // MARK: supports (resolved once, on the first query)

    /// Resolves the support side now (encoders and memories, computed or found) and queues its
    /// records, so a cache can be prepared once and copied to every shard's node.
    public func resolveSupports() async throws { _ = try await supports() }

    func supports() async throws -> Supports {
        if let supportState { return supportState }
        var dino: [StageOutput] = [], memories: [StageOutput] = [], dinoDigests: [String: Digest] = [:],
            memoryDigests: [String: Digest] = [:]
        for (i, image) in supportImages.enumerated() {
            let imageDigest = supportImageDigests[i]
            let d = try resolver.resolve(.dinoFeatures, side: .support, inputs: ["image": imageDigest]) { [model] in
                ["features": CacheTensor(model.dinoFeatures(image))]
            }
            let s = try resolver.resolve(.sam2Features, side: .support, inputs: ["image": imageDigest]) { [model] in
                Self.tensors(model.sam2Features(image))
            }
            let mask = supportMasks[i]
            let sam2 = s.output
            let m = try resolver.resolve(.memoryEncode, side: .support,
                                         inputs: ["features": sam2.digest, "support_mask": BlobDigest.of(CacheTensor(mask))]) { [model] in
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

    // MARK: one query

    /// A query's stages upstream of IMR (encoders, priors, query memories): they depend on no
    /// tunable parameter, so a sweep resolves them once and runs `downstream` per value.
    struct QueryUpstream {
        let dino: StageOutput
        let priors: StageOutput
        let sam2: StageOutput
        let memory: StageOutput
        /// Records prepared on misses, queued after decode_mask resolved (as `fssam run` always has).
        let records: [PreparedRecord]
    }

    /// Resolves every query stage for `image` (the 512² model input) and returns the logits.
    /// A model error is thrown as `ItemFailure` naming the stage; cache I/O errors as `CacheError`.
    public func query(image: Tensor) async throws -> QueryResult {
        try await query(image: QueryImage(image))
    }

    /// The image by digest, its tensor made only if an encoder stage misses.
    public func query(image: QueryImage) async throws -> QueryResult {
        let upstream = try upstream(image: image, supports: try await supports())
        return try await downstream(upstream, parameters: resolver.parameters, queued: upstream.records)
    }

    /// The logits for each parameter set, in order; everything upstream of IMR is resolved (and,
    /// on a miss, computed) once. The sets may differ only in IMR / SCMA / decode_mask parameters.
    public func query(image: Tensor, settings: [RunParameters]) async throws -> [QueryResult] {
        let upstreamStages = [FSSAMStage.dinoFeatures, .priors, .sam2Features, .memoryEncode]
        for setting in settings {
            for stage in upstreamStages where setting[stage.name] != resolver.parameters[stage.name] {
                throw PipelineError("--sweep", "a sweep may vary imr, scma or decode_mask parameters only, not \(stage.name)")
            }
        }
        let upstream = try upstream(image: QueryImage(image), supports: try await supports())
        var queued = upstream.records
        var results: [QueryResult] = []
        for setting in settings {
            results.append(try await downstream(upstream, parameters: setting, queued: queued))
            queued = []
        }
        return results
    }

    private func upstream(image: QueryImage, supports: Supports) throws -> QueryUpstream {
        let imageDigest = image.digest
        let model = self.model, masks = supportMasks
        let supportMaskDigest = self.supportMaskDigest

        let queryDino = try resolver.resolve(.dinoFeatures, side: .query, inputs: ["image": imageDigest]) {
            ["features": CacheTensor(model.dinoFeatures(try image.tensor()))]
        }
        let qDino = queryDino.output
        let priorsR = try resolver.resolve(.priors, side: .query,
                                           inputs: ["query_dino": qDino.digest, "support_dino": supports.dinoDigest,
                                                    "support_mask": supportMaskDigest]) {
            let shots = try zip(supports.dino, masks).map { (feature: try $0.tensor("features"), mask: $1) }
            let priors = model.priors(query: try qDino.tensor("features"), supports: shots)
            return ["foreground": CacheTensor(priors.foreground), "discriminative": CacheTensor(priors.discriminative)]
        }
        let priors = priorsR.output
        let querySam2 = try resolver.resolve(.sam2Features, side: .query, inputs: ["image": imageDigest]) {
            Self.tensors(model.sam2Features(try image.tensor()))
        }
        let qSam2 = querySam2.output
        let memoryR = try resolver.resolve(.memoryEncode, side: .query,
                                           inputs: ["features": qSam2.digest, "priors": priors.digest]) {
            let feat = Self.batched(try qSam2.tensor("feat"))
            let fg = try model.heads.encodeMaskMemory(masks: try priors.tensor("foreground"), visionFeatures: feat)
            let disc = try model.heads.encodeMaskMemory(masks: try priors.tensor("discriminative"), visionFeatures: feat)
            return ["fg.features": CacheTensor(fg.features), "disc.features": CacheTensor(disc.features),
                    "disc.pos_enc": CacheTensor(disc.posEnc), "disc.obj_ptr": CacheTensor(disc.objPtr)]
        }
        return QueryUpstream(dino: qDino, priors: priors, sam2: qSam2, memory: memoryR.output,
                             records: [queryDino.prepared, priorsR.prepared, querySam2.prepared, memoryR.prepared].compactMap { $0 })
    }

    /// IMR → SCMA → decode_mask under `parameters`; queues `queued` (upstream records) with its own,
    /// after decode_mask resolved, as `fssam run` always has.
    private func downstream(_ upstream: QueryUpstream, parameters: RunParameters, queued: [PreparedRecord]) async throws
        -> QueryResult {
        let supports = try await supports()
        guard let calibration = SupportCalibration(rawValue: parameters.calibration) else {
            throw PipelineError("scma.calibration", "unknown calibration '\(parameters.calibration)'")
        }
        let model = self.model, refinementMasks = self.refinementMasks, calibrationMasks = self.calibrationMasks
        let iterations = parameters.refineIterations
        let supportMaskDigest = self.supportMaskDigest
        let priors = upstream.priors, qSam2 = upstream.sam2, qMemory = upstream.memory
        // IMR reads the supports' memories and masks too, so they are inputs of its key.
        let imrR = try resolver.resolve(.imr, side: .query,
                                        inputs: ["memory": qMemory.digest, "priors": priors.digest,
                                                 "support_memory": supports.memoryDigest, "support_mask": supportMaskDigest],
                                        parameters: parameters) {
            let result = try IterativeMemoryRefinement(iterations: iterations)(
                supportMemories: try supports.memories.map { try $0.tensor("features") },
                supportMasks: refinementMasks,
                queryForegroundMemory: try qMemory.tensor("fg.features"), queryDiscMemory: try qMemory.tensor("disc.features"),
                foregroundPrior: IterativeMemoryRefinement.downsample(try priors.tensor("foreground")),
                discPrior: IterativeMemoryRefinement.downsample(try priors.tensor("discriminative")))
            return ["refined": CacheTensor(result.refinedMemory)]
        }
        let refined = imrR.output
        // The supports' memories and pointers, and the query's pointer: what SCMA reads besides the
        // refined memory. Built when scma_prefix or scma first computes, once for both.
        var fixed: MemoryBank.Fixed?
        func fixedMemory() throws -> MemoryBank.Fixed {
            if let fixed { return fixed }
            let made = try MemoryBank.Fixed(
                supports: try supports.memories.map {
                    MemoryBank.Entry(features: try $0.tensor("features"), position: try $0.tensor("pos_enc"),
                                     objectPointer: try $0.tensor("obj_ptr"))
                },
                queryObjectPointer: try qMemory.tensor("disc.obj_ptr"), temporalPosition: model.temporalPosition)
            fixed = made
            return made
        }
        // Layer 0 of SCMA up to the refined memory: the same for every IMR setting of this query.
        let prefixR = try resolver.resolve(.scmaPrefix, side: .query,
                                           inputs: ["query_features": qSam2.digest, "support_memory": supports.memoryDigest,
                                                    "query_memory": qMemory.digest, "support_mask": supportMaskDigest],
                                           parameters: parameters) {
            let prefix = try model.memoryAttention.prefix(current: try qSam2.tensor("feat"), currentPos: try qSam2.tensor("pos"),
                                                          fixed: try fixedMemory(), supportMasks: calibrationMasks,
                                                          calibration: calibration)
            return Self.tensors(prefix)
        }
        let prefixOutput = prefixR.output
        let scmaR = try resolver.resolve(.scma, side: .query,
                                         inputs: ["query_features": qSam2.digest, "support_memory": supports.memoryDigest,
                                                  "refined_memory": refined.digest, "query_memory": qMemory.digest,
                                                  "support_mask": supportMaskDigest, "prefix": prefixOutput.digest],
                                         parameters: parameters) {
            let bank = try MemoryBank(fixed: try fixedMemory(), queryFeatures: try refined.tensor("refined"),
                                      queryPosition: try qMemory.tensor("disc.pos_enc"), temporalPosition: model.temporalPosition)
            let out = try model.memoryAttention(prefix: try Self.prefix(prefixOutput), bank: bank, supportMasks: calibrationMasks,
                                                calibration: calibration)
            return ["fused": CacheTensor(out.fused)]
        }
        let fused = scmaR.output
        let decodeR = try resolver.resolve(.decodeMask, side: .query,
                                           inputs: ["fused": fused.digest, "query_features": qSam2.digest],
                                           parameters: parameters) {
            let final = try model.heads.decodeFinalMasks(fused: try fused.tensor("fused"),
                                                         featS0: Self.batched(try qSam2.tensor("feat_s0")),
                                                         featS1: Self.batched(try qSam2.tensor("feat_s1")), upsampled: false)
            // The chosen mask at the decoder's 128² (64 KB), not its 512² upsampling (1 MB): the
            // upsampling is recomputed on use, by the same kernel, so the logits are identical.
            let (side, best) = (final.lowResMultimasks.shape[2], final.bestIndex[0])
            let plane = side * final.lowResMultimasks.shape[3]
            let chosen = Array(final.lowResMultimasks.storage[(best * plane)..<((best + 1) * plane)])
            return ["low_res_logits": CacheTensor(Tensor(shape: [side, final.lowResMultimasks.shape[3]], storage: chosen)),
                    "ious": CacheTensor(final.ious)]
        }
        let logits = Self.modelSizeLogits(try decodeR.output.tensor("low_res_logits"))
        let score = Double(try decodeR.output.tensor("ious").storage.max() ?? 0)
        for p in queued + [prefixR.prepared, imrR.prepared, scmaR.prepared].compactMap({ $0 }) { try await store.put(p) }
        return QueryResult(logits: logits, logitsDigest: decodeR.output.digest, score: min(max(score, 0), 1),
                           decodeRecord: decodeR.prepared)
    }
}

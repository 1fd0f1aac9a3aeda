import Checkpoint
import Tensor

/// FSSAM at inference (the authors' `OneModel.forward` in `model/FSSAM.py` and `FSSAM5s.py`):
/// DINOv2 priors → SAM 2 memories of the supports and of the two pseudo query masks → Iterative
/// Memory Refinement → support-calibrated memory attention → SAM 2 mask decoder.
///
/// Each step is its own method taking precomputed inputs, so the pipeline can cache every stage
/// and a support set is encoded once for any number of queries. `callAsFunction` chains them.
/// Immutable and `Sendable`: one instance (one copy of the weights) serves every worker.
public final class FSSAM: Sendable {
    public let dino: DinoVisionTransformer
    public let imageEncoder: SAM2ImageEncoder
    public let heads: SAM2Heads
    public let memoryAttention: MemoryAttention
    /// `maskmem_tpos_enc[num_maskmem − 1]`: every FSSAM memory has t_pos = 0.
    public let temporalPosition: Tensor
    public let priorGenerator = PseudoPromptGenerator()

    /// Network input size (the authors' configs use 512; DINOv2 runs at 560).
    public static let inputSize = 512
    public static let dinoInputSize = 560

    /// `sam2`: a SAM 2 state dict with the official key names; `dino`: a DINOv2 one.
    public init(sam2: StateDict, dino dinoWeights: StateDict) throws {
        dino = try DinoVisionTransformer(stateDict: dinoWeights)
        imageEncoder = try SAM2ImageEncoder(stateDict: sam2)
        heads = try SAM2Heads(stateDict: sam2, imageSize: Self.inputSize)
        memoryAttention = try MemoryAttention(sam2: sam2)
        temporalPosition = try MemoryBank.temporalPosition(ModuleWeights(sam2))
    }

    /// Inference options that change the output (and so belong in cache keys).
    public struct Options: Sendable, Equatable {
        /// IMR iterations (`num_refine`, 3 in the authors' scripts).
        public var refineIterations: Int
        public var calibration: SupportCalibration

        public init(refineIterations: Int = 3, calibration: SupportCalibration = .released) {
            self.refineIterations = refineIterations
            self.calibration = calibration
        }
    }

    /// A support example at the network size: `image [3,512,512]` RGB 0…255 and `label` 512² with
    /// 0 (background), 1 (target), 255 (ignore: background for the model).
    public struct SupportInput: Sendable {
        public var image: Tensor
        public var label: [UInt8]

        public init(image: Tensor, label: [UInt8]) {
            self.image = image
            self.label = label
        }
    }

    /// Receives intermediate tensors under the fixture names (`dino.feat.qry`, `mem.sup.feat`, …)
    /// in the fixtures' layouts, for `--dump` and the end-to-end parity test.
    public typealias Trace = (_ name: String, _ tensor: Tensor) -> Void

    // MARK: Stages

    /// DINOv2 patch features `[C, 40, 40]` of an image `[3, 512, 512]` (0…255).
    public func dinoFeatures(_ image: Tensor) -> Tensor {
        let batched = image.reshaped([1, 3, image.shape[image.rank - 2], image.shape[image.rank - 1]])
        return dino(DinoVisionTransformer.preprocess(batched, size: Self.dinoInputSize))
    }

    /// SAM 2 image features of an image `[3, 512, 512]` (0…255).
    public func sam2Features(_ image: Tensor) -> BackboneFeatures { imageEncoder(image: image) }

    /// The model's binary support mask `[1, 1, S, S]`: 255 (ignore) becomes background.
    public static func binaryMask(_ label: [UInt8]) -> Tensor {
        let side = Int(Double(label.count).squareRoot())
        return PseudoPromptGenerator.supportMask(label: label, height: side, width: side)
    }

    /// A support's memory from its SAM 2 features and its binary mask (`add_new_mask_batch`).
    public func supportMemory(features: BackboneFeatures, mask: Tensor) throws -> SAM2Heads.MaskMemory {
        try heads.encodeMaskMemory(masks: mask, visionFeatures: batched(features.feat))
    }

    /// The FG and Disc priors at 512² from DINOv2 features of the query and of each support.
    public func priors(query: Tensor, supports: [(feature: Tensor, mask: Tensor)]) -> PseudoPromptGenerator.Priors {
        priorGenerator(query: query, supports: supports)
    }

    /// The two pseudo query memories: from the FG prior and from the (unrefined) Disc prior.
    public func queryMemories(features: BackboneFeatures, priors: PseudoPromptGenerator.Priors) throws
        -> (foreground: SAM2Heads.MaskMemory, disc: SAM2Heads.MaskMemory) {
        let feat = batched(features.feat)
        return (try heads.encodeMaskMemory(masks: priors.foreground, visionFeatures: feat),
                try heads.encodeMaskMemory(masks: priors.discriminative, visionFeatures: feat))
    }

    /// Iterative Memory Refinement of the query Disc memory.
    public func refine(supportMemories: [Tensor], supportMasks: [Tensor], queryForeground: SAM2Heads.MaskMemory,
                       queryDisc: SAM2Heads.MaskMemory, priors: PseudoPromptGenerator.Priors,
                       iterations: Int) throws -> IterativeMemoryRefinement.Result {
        try IterativeMemoryRefinement(iterations: iterations)(
            supportMemories: supportMemories,
            supportMasks: supportMasks.map { IterativeMemoryRefinement.downsample($0) },
            queryForegroundMemory: queryForeground.features, queryDiscMemory: queryDisc.features,
            foregroundPrior: IterativeMemoryRefinement.downsample(priors.foreground),
            discPrior: IterativeMemoryRefinement.downsample(priors.discriminative))
    }

    /// The memory bank: the supports' memories, then the refined query Disc memory (with the
    /// pointer of the unrefined Disc prior), then their object pointers.
    public func memoryBank(supports: [SAM2Heads.MaskMemory], refinedDiscMemory: Tensor,
                           queryDisc: SAM2Heads.MaskMemory) throws -> MemoryBank {
        try MemoryBank(
            supports: supports.map { MemoryBank.Entry(features: $0.features, position: $0.posEnc, objectPointer: $0.objPtr) },
            query: MemoryBank.Entry(features: refinedDiscMemory, position: queryDisc.posEnc, objectPointer: queryDisc.objPtr),
            temporalPosition: temporalPosition)
    }

    /// Support-calibrated memory attention of the query features over the bank.
    public func attend(query: BackboneFeatures, bank: MemoryBank, supportMasks: [Tensor],
                       calibration: SupportCalibration) throws -> MemoryAttention.Output {
        try memoryAttention(current: query.feat, currentPos: query.pos, bank: bank,
                            supportMasks: supportMasks.map { MemoryBank.calibrationMask($0) }, calibration: calibration)
    }

    /// The SAM 2 mask decoder on the fused features: multimask, best by IoU, 512² logits.
    public func decode(fused: Tensor, query: BackboneFeatures) throws -> SAM2Heads.FinalMasks {
        try heads.decodeFinalMasks(fused: fused, featS0: batched(query.featS0), featS1: batched(query.featS1))
    }

    private func batched(_ x: Tensor) -> Tensor { x.rank == 3 ? x.reshaped([1] + x.shape) : x }

    // MARK: Whole forward pass

    /// Everything one query needs from its support set, computed once per set.
    public struct PreparedSupports: Sendable {
        public var dinoFeatures: [Tensor]
        public var masks: [Tensor]
        public var memories: [SAM2Heads.MaskMemory]
    }

    /// Encodes a support set (both encoders, masks, memories).
    public func prepare(supports: [SupportInput], clock: StageClock = StageClock(), trace: Trace? = nil) throws -> PreparedSupports {
        guard !supports.isEmpty else { throw ModelError("supports", "FSSAM needs at least one support example") }
        var prepared = PreparedSupports(dinoFeatures: [], masks: [], memories: [])
        for (i, support) in supports.enumerated() {
            guard support.image.shape == [3, Self.inputSize, Self.inputSize],
                  support.label.count == Self.inputSize * Self.inputSize else {
                throw ModelError("support \(i)", "expected a [3,\(Self.inputSize),\(Self.inputSize)] image and a \(Self.inputSize)² label, got \(support.image.shape) and \(support.label.count) labels")
            }
            let mask = Self.binaryMask(support.label)
            let feature = clock.measure("dino_features") { dinoFeatures(support.image) }
            let sam2 = clock.measure("sam2_features") { sam2Features(support.image) }
            let memory = try clock.measure("memory_encode") { try supportMemory(features: sam2, mask: mask) }
            prepared.dinoFeatures.append(feature)
            prepared.masks.append(mask)
            prepared.memories.append(memory)
            if let trace, i == 0 {
                trace("sam2.feat0.sup", batched(sam2.featS0))
                trace("sam2.feat1.sup", batched(sam2.featS1))
                trace("sam2.feat2.sup", batched(sam2.feat))
            }
        }
        if let trace {
            trace("dino.feat.sup", Tensor(shape: [supports.count] + prepared.dinoFeatures[0].shape,
                                          storage: prepared.dinoFeatures.flatMap(\.storage)))
            Self.traceMemory(prepared.memories, as: "sup", trace)
        }
        return prepared
    }

    public struct Output: Sendable {
        /// `[S, S]` logits at the network size (the authors' `output`).
        public var logits: Tensor
        public var final: SAM2Heads.FinalMasks
    }

    /// One query `[3,512,512]` (0…255) against a prepared support set.
    public func callAsFunction(query image: Tensor, supports: PreparedSupports, options: Options = Options(),
                               clock: StageClock = StageClock(), trace: Trace? = nil) throws -> Output {
        guard image.shape == [3, Self.inputSize, Self.inputSize] else {
            throw ModelError("query", "expected a [3,\(Self.inputSize),\(Self.inputSize)] image, got \(image.shape)")
        }
        let queryDino = clock.measure("dino_features") { dinoFeatures(image) }
        let priors = clock.measure("priors") {
            self.priors(query: queryDino, supports: Array(zip(supports.dinoFeatures, supports.masks)))
        }
        let query = clock.measure("sam2_features") { sam2Features(image) }
        let (foreground, disc) = try clock.measure("memory_encode") { try queryMemories(features: query, priors: priors) }
        let refined = try clock.measure("imr") {
            try refine(supportMemories: supports.memories.map(\.features), supportMasks: supports.masks,
                       queryForeground: foreground, queryDisc: disc, priors: priors, iterations: options.refineIterations)
        }
        let attended = try clock.measure("scma") {
            let bank = try memoryBank(supports: supports.memories, refinedDiscMemory: refined.refinedMemory, queryDisc: disc)
            return (bank, try attend(query: query, bank: bank, supportMasks: supports.masks, calibration: options.calibration))
        }
        let bank = attended.0
        let final = try clock.measure("decode_mask") { try decode(fused: attended.1.fused, query: query) }
        let side = Self.inputSize
        let logits = final.logits!.reshaped([side, side])
        if let trace {
            trace("dino.feat.qry", batched(queryDino))
            Self.tracePriors(priors, trace)
            trace("sam2.feat0.qry", batched(query.featS0))
            trace("sam2.feat1.qry", batched(query.featS1))
            trace("sam2.feat2.qry", batched(query.feat))
            trace("sam2.pos2", batched(query.pos))
            Self.traceMemory([foreground], as: "qryfg", trace)
            Self.traceMemory([disc], as: "qryae", trace)
            trace("mem.pos", disc.posEnc)
            trace("imr.sup_fg_32", Tensor(shape: [supports.masks.count, 1, 32, 32],
                                          storage: supports.masks.flatMap { IterativeMemoryRefinement.downsample($0).storage }))
            trace("imr.prior_fg_32", IterativeMemoryRefinement.downsample(priors.foreground))
            trace("imr.prior_ae_32", IterativeMemoryRefinement.downsample(priors.discriminative))
            Self.traceRefinement(refined, trace)
            trace("ma.memory", bank.memory.reshaped([bank.memory.shape[0], 1, bank.memoryDim]))
            trace("ma.memory_pos", bank.memoryPos.reshaped([bank.memoryPos.shape[0], 1, bank.memoryDim]))
            trace("ma.memory_mask", MemoryBank.calibrationMask(supports.masks[0]))
            trace("ma.num_obj_ptr_tokens", Tensor(shape: [1], storage: [Float(bank.numObjPtrTokens)]))
            for (i, layer) in attended.1.layerOutputs.enumerated() {
                trace("ma.layer\(i)", layer.reshaped([1] + layer.shape))
            }
            trace("ma.out", attended.1.fused)
            trace("heads.final.low_res_multimasks", final.lowResMultimasks)
            trace("heads.final.ious", final.ious)
            trace("heads.final.object_score_logits", final.objectScoreLogits)
            trace("heads.final.best_index", Tensor(shape: [final.bestIndex.count], storage: final.bestIndex.map(Float.init)))
            trace("out.logits", final.logits!)
        }
        return Output(logits: logits, final: final)
    }

    // MARK: Trace helpers (fixture names and layouts)

    private static func traceMemory(_ memories: [SAM2Heads.MaskMemory], as name: String, _ trace: Trace) {
        func stacked(_ pick: (SAM2Heads.MaskMemory) -> Tensor) -> Tensor {
            let parts = memories.map(pick)
            let first = parts[0].shape.first == 1 ? Array(parts[0].shape.dropFirst()) : parts[0].shape
            return Tensor(shape: [parts.count] + first, storage: parts.flatMap(\.storage))
        }
        trace("mem.\(name).feat", stacked(\.features))
        trace("mem.\(name).obj_ptr", stacked(\.objPtr))
        trace("mem.\(name).pred_lowres", stacked(\.lowResMasks))
        trace("mem.\(name).dec.mask_inputs", stacked(\.maskInputs))
        trace("mem.\(name).dec.object_score_logits", stacked(\.objectScoreLogits))
    }

    private static func tracePriors(_ priors: PseudoPromptGenerator.Priors, _ trace: Trace) {
        for (i, shot) in priors.shots.enumerated() {
            trace("prior.s\(i).sup_mask_40", shot.supportMask)
            trace("prior.s\(i).fg_40", shot.foreground)
            trace("prior.s\(i).bg_40", shot.background)
        }
        trace("prior.fg_512", priors.foreground)
        trace("prior.ae_512", priors.discriminative)
        trace("prior.ae_per_shot_512", priors.discriminativePerShot)
    }

    private static func traceRefinement(_ refined: IterativeMemoryRefinement.Result, _ trace: Trace) {
        trace("imr.prior_mem_qry_sup_fg", refined.querySupportPrior)
        for (i, step) in refined.steps.enumerated() {
            trace("imr.\(i).prior_mem_qry_qry_fg", step.queryQueryPrior)
            trace("imr.\(i).prior_mem_fg", step.mixing)
            trace("imr.\(i).ae_mem_out", step.discMemory)
            trace("imr.\(i).prior_ae_out", step.discPrior)
        }
    }
}

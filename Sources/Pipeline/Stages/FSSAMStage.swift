/// The FSSAM stages (DESIGN.md stage catalog), as cache-key descriptors. Parameters come from the
/// pipeline-file catalog (`StageCatalog.fssam`) so the file's declarations and the keys cannot
/// drift apart; weights are named in the combined namespace (`sam2.*`, `dino.*`).
///
/// Weight selections follow what the Swift modules read (FSSAM.swift, SAM2Heads, SAM2ImageEncoder,
/// MemoryAttention, MemoryBank) and spec `sam2-internals.md` §6.2. Where a stage reads a tensor
/// only partly, or reads it with no effect on its output (the memory-creation decoder call's
/// upscaling / hypernetworks, `maskmem_tpos_enc` rows 0–5), the whole module is still selected:
/// selecting too much only costs a miss when such a weight changes, selecting too little would
/// give a wrong hit.
public struct FSSAMStage: Stage {
    public let name: String
    public let version: Int64
    public let weights: WeightSelection
    public let parameterSpecs: [ParameterSpec]
    /// The stage whose parameters enter this stage's key: its own, except for a stage that computes
    /// part of another (scma_prefix, a part of scma, is keyed on scma's parameters).
    public let parameterStage: String

    init(_ name: String, version: Int64, weights: WeightSelection, parametersOf parameterStage: String? = nil) {
        let owner = parameterStage ?? name
        guard StageCatalog.fssam.kind(named: name) != nil, let kind = StageCatalog.fssam.kind(named: owner) else {
            preconditionFailure("FSSAM stage '\(name)' (parameters of '\(owner)') is not in the pipeline-file catalog")
        }
        self.name = name
        self.version = version
        self.weights = weights
        self.parameterSpecs = kind.parameters
        self.parameterStage = owner
    }

    /// Applied to SAM 2's two high-resolution FPN levels inside `sam2_features` (§2.11); the stages
    /// downstream receive the results through their input digests, not these weights.
    static let highResolutionConvs = ["sam2.sam_mask_decoder.conv_s0.", "sam2.sam_mask_decoder.conv_s1."]

    /// The point prompt embeddings: FSSAM never gives point prompts, so nothing reads them (§6.2).
    static let pointEmbeddings = "sam2.sam_prompt_encoder.point_embeddings."

    /// File bytes → RGB at original size and the 512² model input. No weights; `max_pixels` only
    /// refuses large files, so it stays out of the key.
    public static let decode = FSSAMStage("decode", version: 1, weights: .none)

    /// DINOv2-B patch features. `mask_token` exists but FSSAM calls DINOv2 with masks=None
    /// (`fssam-pipeline.md` §2.6).
    public static let dinoFeatures = FSSAMStage("dino_features", version: 1,
                                                weights: WeightSelection(["dino."], excluding: ["dino.mask_token"]))

    /// Hiera-S trunk + FPN neck, then `conv_s0` / `conv_s1` (SAM2ImageEncoder).
    public static let sam2Features = FSSAMStage("sam2_features", version: 1,
                                                weights: WeightSelection(["sam2.image_encoder."] + highResolutionConvs))

    /// FG / BG cosine priors from DINOv2 features: parameter-free (PseudoPromptGenerator).
    public static let priors = FSSAMStage("priors", version: 1, weights: .none)

    /// `add_new_mask_batch` (SAM2Heads.encodeMaskMemory): the mask as output through
    /// `mask_downsample`, the SAM heads with the mask prompt for the object pointer
    /// (prompt encoder, mask decoder, `obj_ptr_proj`, `no_obj_ptr`), then the memory encoder.
    public static let memoryEncode = FSSAMStage("memory_encode", version: 1, weights: WeightSelection(
        ["sam2.memory_encoder.", "sam2.mask_downsample.", "sam2.sam_mask_decoder.", "sam2.sam_prompt_encoder.",
         "sam2.obj_ptr_proj.", "sam2.no_obj_ptr"],
        excluding: highResolutionConvs + [pointEmbeddings]))

    /// SCMA's layer 0 up to the refined memory (MemoryAttention.prefix): its self-attention and
    /// its cross-attention over the support memories and the pointers. It is a part of scma,
    /// keyed on scma's parameters (the calibration may bias a support block), and reads scma's weights.
    public static let scmaPrefix = FSSAMStage("scma_prefix", version: 1, weights: WeightSelection(
        ["sam2.memory_attention.", "sam2.maskmem_tpos_enc"]), parametersOf: "scma")

    /// Iterative Memory Refinement: arithmetic on memories and priors, no weights.
    public static let imr = FSSAMStage("imr", version: 1, weights: .none)

    /// Calibrated memory attention over the bank; the bank adds `maskmem_tpos_enc[6]` to every
    /// memory position (MemoryBank.temporalPosition).
    /// Version 2: from scma_prefix, attention in memory space (P·memory, then v_proj), layer 0's
    /// softmax in two combined segments — the same maths, other roundings.
    public static let scma = FSSAMStage("scma", version: 2, weights: WeightSelection(
        ["sam2.memory_attention.", "sam2.maskmem_tpos_enc"]))

    /// The prompt-free SAM heads on the fused features (SAM2Heads.decodeFinalMasks, spec §5):
    /// prompt encoder (no-mask embedding, dense PE) and mask decoder.
    /// Version 2: stores the chosen mask's 128² logits (upsampled on use) instead of the 512² ones.
    public static let decodeMask = FSSAMStage("decode_mask", version: 2, weights: WeightSelection(
        ["sam2.sam_mask_decoder.", "sam2.sam_prompt_encoder."], excluding: highResolutionConvs + [pointEmbeddings]))

    /// Threshold at the original size and encode; no weights.
    public static let export = FSSAMStage("export", version: 1, weights: .none)

    /// In data-flow order.
    public static let all: [FSSAMStage] = [decode, dinoFeatures, sam2Features, priors, memoryEncode, scmaPrefix, imr, scma,
                                           decodeMask, export]

    public static func named(_ name: String) -> FSSAMStage? { all.first { $0.name == name } }
}

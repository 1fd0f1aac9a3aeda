/// The stage kinds a pipeline file may use. The default catalog is FSSAM's (DESIGN.md, stage
/// catalog); tests and future pipelines can build their own.
public struct StageCatalog: Sendable {
    public let kinds: [StageKind]

    public init(_ kinds: [StageKind]) {
        self.kinds = kinds
    }

    public func kind(named name: String) -> StageKind? { kinds.first { $0.name == name } }

    /// FSSAM: SAM 2 (Hiera-S) + DINOv2-B. Persistence defaults follow DESIGN.md's table, sizes are
    /// per image in float32 at 512: keep what is expensive to recompute and small, or reused across
    /// queries (support features); recompute what is cheap (decode) or large and used once (query
    /// DINOv2 / SAM 2 features, SCMA's fused map).
    public static let fssam = StageCatalog([
        StageKind(
            name: "decode", version: 1,
            inputs: [InputSpec("image", .imageFile)], output: .decodedImage,
            parameters: [
                // Refuse decompression bombs before allocating: 100 Mpx is a 300 MB RGB buffer.
                ParameterSpec("max_pixels", .int(min: 1, max: nil), default: .int(100_000_000),
                              affectsOutput: false, "largest image (width × height) accepted"),
                ParameterSpec("model_size", .int(min: 16, max: 4096), default: .int(512),
                              "side of the square model input (SAM 2 at 512)"),
            ],
            defaultPersistence: Persistence(.recompute),  // 0.8 MB/image, ≈ 30 ms to redo
            summary: "decode the file, keep original size, resize to the model input"),
        StageKind(
            name: "dino_features", version: 1,
            inputs: [InputSpec("image", .decodedImage)], output: .dinoFeatures,
            parameters: [
                ParameterSpec("input_size", .int(min: 14, max: 4096), default: .int(560),
                              "DINOv2 input side (a multiple of the 14-pixel patch)"),
            ],
            // 4.9 MB/image: supports are reused by every query; a query's features are used once.
            defaultPersistence: Persistence(support: .persist, query: .recompute),
            summary: "DINOv2-B patch features [768, 40, 40]"),
        StageKind(
            name: "sam2_features", version: 1,
            inputs: [InputSpec("image", .decodedImage)], output: .sam2Features,
            // 4.2 MB/image raw, ≈ 2.5 MB stored (the position map is the same for every image and
            // stored once). Queries persist too: SCMA and the decoder read these features, so a
            // re-tune of IMR/SCMA needs them without the encoder. `query: recompute` saves the disk.
            defaultPersistence: Persistence(.persist),
            summary: "SAM 2 Hiera-S trunk + FPN neck features and positions"),
        StageKind(
            name: "priors", version: 1,
            inputs: [InputSpec("query_dino", .dinoFeatures), InputSpec("support_dino", .dinoFeatures),
                     InputSpec("support_mask", .mask)],
            output: .priors,
            defaultPersistence: Persistence(.persist),  // tiny at 40²
            summary: "FG / BG similarity priors at 40² per shot → FG, Disc at 512²"),
        StageKind(
            name: "memory_encode", version: 1,
            inputs: [InputSpec("features", .sam2Features), InputSpec("support_mask", .mask),
                     InputSpec("priors", .priors)],
            output: .memory,
            defaultPersistence: Persistence(.persist),  // 0.3 MB/image
            summary: "SAM 2 memory encoder: support masks, and the query's FG / Disc priors"),
        StageKind(
            name: "scma_prefix", version: 1,
            inputs: [InputSpec("query_features", .sam2Features), InputSpec("support_memory", .memory),
                     InputSpec("query_memory", .memory)],
            output: .scmaPrefix,
            // ≈ 1.3 MB/image (layer 0's tokens after self-attention [1024, 256], its attention over
            // the supports' memory and the pointers [1024, 64] + 2 floats per token). Persisted, a
            // re-tune of IMR/SCMA skips that work (≈ 10 % of SCMA); `query: recompute` saves the disk.
            defaultPersistence: Persistence(.persist),
            summary: "SCMA layer 0 before the refined memory: self-attention, attention over the support memories"),
        StageKind(
            name: "imr", version: 1,
            inputs: [InputSpec("memory", .memory), InputSpec("priors", .priors)], output: .refinedMemory,
            parameters: [
                ParameterSpec("iterations", .int(min: 0, max: 100), default: .int(3),
                              "iterative memory refinement steps"),
            ],
            defaultPersistence: Persistence(.persist),  // 0.3 MB/image
            summary: "iterative memory refinement of the Disc memory"),
        StageKind(
            name: "scma", version: 2,
            inputs: [InputSpec("query_features", .sam2Features), InputSpec("support_memory", .memory),
                     InputSpec("refined_memory", .refinedMemory), InputSpec("prefix", .scmaPrefix)],
            output: .fusedFeatures,
            parameters: [
                ParameterSpec("alpha", .float(min: 0, max: nil), default: .float(10),
                              "calibration strength"),
                ParameterSpec("calibration", .string(allowed: ["released", "paper"]), default: .string("released"),
                              "k-shot calibration as in the released code, or as in the paper"),
            ],
            defaultPersistence: Persistence(.recompute),  // 1 MB/image, cheap next to the encoders
            summary: "support-calibrated memory attention"),
        StageKind(
            name: "decode_mask", version: 2,
            inputs: [InputSpec("fused", .fusedFeatures), InputSpec("query_features", .sam2Features)],
            output: .maskLogits,
            defaultPersistence: Persistence(.persist),  // 64 KB low-res logits; re-export without the model
            summary: "SAM 2 mask decoder: low-res logits and IoU predictions"),
        StageKind(
            name: "export", version: 1,
            inputs: [InputSpec("logits", .maskLogits), InputSpec("image", .decodedImage)],
            output: .exportedMask,
            parameters: [
                ParameterSpec("threshold", .float(min: nil, max: nil), default: .float(0),
                              "logit threshold applied at the original size"),
                ParameterSpec("formats", .stringList(allowed: ["png", "rle", "overlay"]),
                              default: .list([.string("png"), .string("rle")]),
                              "what to write into --out"),
            ],
            defaultPersistence: Persistence(.recompute),  // results go to --out, not the cache
            summary: "threshold and write PNG / COCO RLE / overlay"),
    ])
}

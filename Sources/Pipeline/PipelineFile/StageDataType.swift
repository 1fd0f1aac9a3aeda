/// What flows along an edge of the pipeline. An input accepts exactly one type, so a file that wires
/// `priors.query_dino` to `sam2_features` is refused at load time instead of failing mid-run.
public enum StageDataType: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Raw bytes of an image file (query or support), keyed by content digest.
    case imageFile = "image_file"
    /// A support's binary mask as given by the user.
    case mask
    case decodedImage = "decoded_image"
    case dinoFeatures = "dino_features"
    case sam2Features = "sam2_features"
    case priors
    case memory
    case refinedMemory = "refined_memory"
    /// SCMA's layer 0 up to what the refined memory changes (`MemoryAttention.Prefix`).
    case scmaPrefix = "scma_prefix"
    case fusedFeatures = "fused_features"
    case maskLogits = "mask_logits"
    case exportedMask = "exported_mask"

    public var description: String { rawValue }
}

/// Values the pipeline receives from outside rather than from a stage. Their names are reserved:
/// a stage may not be called `image` or `support_mask`.
public enum PipelineSource: String, Sendable, Hashable, CaseIterable {
    /// Each image's file bytes: every query, and every support image.
    case image
    /// The support masks (supports only).
    case supportMask = "support_mask"

    public var dataType: StageDataType {
        switch self {
        case .image: return .imageFile
        case .supportMask: return .mask
        }
    }
}

import Checkpoint
import Tensor

/// The SAM 2 modules FSSAM runs after the image encoder, other than the memory attention:
/// `sam_prompt_encoder`, `sam_mask_decoder`, `obj_ptr_proj`, `no_obj_ptr`, `mask_downsample` and
/// `memory_encoder` (the parts of `SAM2Base` behind `add_new_mask_batch` and the final
/// `_forward_sam_heads`). Immutable; share one instance across workers.
///
/// The two operations FSSAM calls are `encodeMaskMemory` (memory creation, spec §3) and
/// `decodeFinalMasks` (the prompt-free heads on the fused features, spec §5).
public struct SAM2Heads: Sendable {
    public let promptEncoder: PromptEncoder
    public let maskDecoder: MaskDecoder
    public let memoryEncoder: MemoryEncoder
    /// `obj_ptr_proj`: MLP(256, 256, 256, 3) on the decoder's mask token 0.
    public let objPtrProj: MLP
    /// `no_obj_ptr [1, 256]`: the pointer when there is no object (pitfall 16).
    public let noObjPtr: Tensor
    /// `mask_downsample`: Conv(1→1, k4, s4) turning a 512² mask into the 128² mask prompt.
    public let maskDownsample: Conv2d
    /// `get_dense_pe()` `[1, 256, 32, 32]`, computed once: it depends only on the grid size.
    public let densePE: Tensor
    /// SAM 2's `image_size` (512 in FSSAM's configs): the side of the masks in and logits out.
    public let imageSize: Int
    /// `sigmoid_scale_for_mem_enc` / `sigmoid_bias_for_mem_enc`, and the mask-as-output logit map.
    static let memorySigmoidScale: Float = 20, memorySigmoidBias: Float = -10
    static let maskOutputScale: Float = 20, maskOutputBias: Float = -10

    /// Binds the keys of a SAM 2 (Hiera-S/B+/L) state dict; a missing or misshapen key throws
    /// naming it.
    public init(stateDict: StateDict, imageSize: Int = 512, backboneStride: Int = 16) throws {
        let root = ModuleWeights(stateDict)
        let side = imageSize / backboneStride
        promptEncoder = try PromptEncoder(root.child("sam_prompt_encoder"), embedDim: 256,
                                          imageEmbeddingSize: (side, side), maskInChans: 16)
        maskDecoder = try MaskDecoder(root.child("sam_mask_decoder"))
        memoryEncoder = try MemoryEncoder(root.child("memory_encoder"))
        objPtrProj = try MLP(root.child("obj_ptr_proj"), inputDim: 256, hiddenDim: 256, outputDim: 256, numLayers: 3)
        noObjPtr = try root("no_obj_ptr", shape: [1, 256])
        maskDownsample = try Conv2d(root.child("mask_downsample"), in: 1, out: 1, kernel: 4, stride: 4)
        densePE = promptEncoder.densePositionalEncoding()
        self.imageSize = imageSize
    }
}

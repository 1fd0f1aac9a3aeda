/// The SAM 2 (2.0, `sam2_hiera_*.yaml`) image-encoder variants. Everything after the image encoder
/// (memory attention, memory encoder, prompt encoder, mask decoder, pointer projection) is the same
/// 256-wide module for every variant; only the Hiera trunk and the FPN neck's input widths change.
public struct SAM2Config: Sendable, Equatable, CustomStringConvertible {
    public let name: String
    /// Width of Hiera stage 1; each later stage doubles it.
    public let embedDim: Int
    public let numHeads: Int
    /// Blocks per stage.
    public let stages: [Int]
    public let globalAttentionBlocks: [Int]
    /// `window_pos_embed_bkg_spatial_size`: the background positional embedding grid.
    public let backgroundPosEmbedSize: Int
    /// `window_spec`: attention window per stage; `pos_embed_window` is windowSpec[0] square.
    public let windowSpec: [Int]

    public static let tiny = SAM2Config(name: "sam2_hiera_t", embedDim: 96, numHeads: 1, stages: [1, 2, 7, 2], globalAttentionBlocks: [5, 7, 9], backgroundPosEmbedSize: 7, windowSpec: [8, 4, 14, 7])
    public static let small = SAM2Config(name: "sam2_hiera_s", embedDim: 96, numHeads: 1, stages: [1, 2, 11, 2], globalAttentionBlocks: [7, 10, 13], backgroundPosEmbedSize: 7, windowSpec: [8, 4, 14, 7])
    public static let basePlus = SAM2Config(name: "sam2_hiera_b+", embedDim: 112, numHeads: 2, stages: [2, 3, 16, 3], globalAttentionBlocks: [12, 16, 20], backgroundPosEmbedSize: 14, windowSpec: [8, 4, 14, 7])
    public static let large = SAM2Config(name: "sam2_hiera_l", embedDim: 144, numHeads: 2, stages: [2, 6, 36, 4], globalAttentionBlocks: [23, 33, 43], backgroundPosEmbedSize: 7, windowSpec: [8, 4, 16, 8])

    public static let all: [SAM2Config] = [.tiny, .small, .basePlus, .large]

    public var description: String { "\(name) (trunk embed \(embedDim), stages \(stages))" }

    public var blockCount: Int { stages.reduce(0, +) }
    /// Channel width of each stage's output.
    public var stageDims: [Int] { stages.indices.map { embedDim << $0 } }

    /// SAM 2's model width, memory width and decoder sizes (identical across variants).
    public static let modelDim = 256
    public static let memoryDim = 64
    public static let numMaskmem = 7
}

/// The `sam2_hiera_*.pt['model']` key → shape list, in state-dict order.
public enum SAM2Keys {
    public static func specs(_ config: SAM2Config) -> [TensorSpec] {
        let d = SAM2Config.modelDim
        let memDim = SAM2Config.memoryDim
        var list = SpecList()
        // SAM2Base's own parameters first.
        list.add("maskmem_tpos_enc", [SAM2Config.numMaskmem, 1, 1, memDim])
        list.add("no_mem_embed", [1, 1, d])
        list.add("no_mem_pos_enc", [1, 1, d])
        list.add("no_obj_ptr", [1, d])

        hieraTrunk(&list, config)
        // FpnNeck: one 1x1 conv per stage, deepest first (backbone_channel_list).
        for (i, channels) in config.stageDims.reversed().enumerated() {
            list.conv("image_encoder.neck.convs.\(i).conv", channels, d, kernel: 1)
        }
        list.conv("mask_downsample", 1, 1, kernel: 4)
        memoryAttention(&list)
        memoryEncoder(&list)
        promptEncoder(&list)
        maskDecoder(&list)
        mlp(&list, "obj_ptr_proj", d, d, d, layers: 3)
        return list.specs
    }

    /// Hiera with q-pooling: the first block of stages 2..4 widens dim → 2·dim and carries a `proj`.
    private static func hieraTrunk(_ list: inout SpecList, _ config: SAM2Config) {
        let t = "image_encoder.trunk"
        let e = config.embedDim
        list.add("\(t).pos_embed", [1, e, config.backgroundPosEmbedSize, config.backgroundPosEmbedSize])
        list.add("\(t).pos_embed_window", [1, e, config.windowSpec[0], config.windowSpec[0]])
        list.conv("\(t).patch_embed.proj", 3, e, kernel: 7)
        var block = 0
        var dim = e
        for (stage, count) in config.stages.enumerated() {
            for j in 0..<count {
                let dimOut = (stage > 0 && j == 0) ? dim * 2 : dim
                let b = "\(t).blocks.\(block)"
                list.norm("\(b).norm1", dim)
                list.linear("\(b).attn.qkv", dim, 3 * dimOut)
                list.linear("\(b).attn.proj", dimOut, dimOut)
                list.norm("\(b).norm2", dimOut)
                list.linear("\(b).mlp.layers.0", dimOut, 4 * dimOut)
                list.linear("\(b).mlp.layers.1", 4 * dimOut, dimOut)
                if dimOut != dim { list.linear("\(b).proj", dim, dimOut) }
                dim = dimOut
                block += 1
            }
        }
    }

    /// SAM's `MLP(input, hidden, output, num_layers)`: `layers.{i}` Linear.
    private static func mlp(_ list: inout SpecList, _ prefix: String, _ input: Int, _ hidden: Int, _ output: Int, layers: Int) {
        for i in 0..<layers {
            list.linear("\(prefix).layers.\(i)", i == 0 ? input : hidden, i == layers - 1 ? output : hidden)
        }
    }

    /// `Attention(embedding, heads, downsample_rate, kv_in_dim)`: q/k/v/out projections.
    private static func attention(_ list: inout SpecList, _ prefix: String, _ dim: Int, internalDim: Int, kvInDim: Int? = nil) {
        list.linear("\(prefix).q_proj", dim, internalDim)
        list.linear("\(prefix).k_proj", kvInDim ?? dim, internalDim)
        list.linear("\(prefix).v_proj", kvInDim ?? dim, internalDim)
        list.linear("\(prefix).out_proj", internalDim, dim)
    }

    /// 4 MemoryAttentionLayers (RoPE self-attention, RoPE cross-attention to 64-wide memories, FFN 2048).
    private static func memoryAttention(_ list: inout SpecList) {
        let d = SAM2Config.modelDim
        for i in 0..<4 {
            let l = "memory_attention.layers.\(i)"
            attention(&list, "\(l).self_attn", d, internalDim: d)
            attention(&list, "\(l).cross_attn_image", d, internalDim: d, kvInDim: SAM2Config.memoryDim)
            list.linear("\(l).linear1", d, 2048)
            list.linear("\(l).linear2", 2048, d)
            list.norm("\(l).norm1", d)
            list.norm("\(l).norm2", d)
            list.norm("\(l).norm3", d)
        }
        list.norm("memory_attention.norm", d)
    }

    /// MaskDownSampler (stride 16 in four 2x steps: conv, LayerNorm2d, GELU), the 1x1 pixel
    /// projection, the two-CXBlock fuser and the 256 → 64 output projection.
    private static func memoryEncoder(_ list: inout SpecList) {
        let d = SAM2Config.modelDim
        let m = "memory_encoder"
        var channels = 1
        var index = 0
        for _ in 0..<4 {
            let next = channels * 4
            list.conv("\(m).mask_downsampler.encoder.\(index)", channels, next, kernel: 3)
            list.norm("\(m).mask_downsampler.encoder.\(index + 1)", next)
            // index + 2 is the GELU, which has no weights.
            channels = next
            index += 3
        }
        list.conv("\(m).mask_downsampler.encoder.\(index)", channels, d, kernel: 1)
        list.conv("\(m).pix_feat_proj", d, d, kernel: 1)
        for i in 0..<2 {
            let c = "\(m).fuser.layers.\(i)"
            // `gamma` is the CXBlock's own parameter, so it precedes its child modules.
            list.add("\(c).gamma", [d])
            list.conv("\(c).dwconv", d, d, kernel: 7, groups: d)
            list.norm("\(c).norm", d)
            list.linear("\(c).pwconv1", d, 4 * d)
            list.linear("\(c).pwconv2", 4 * d, d)
        }
        list.conv("\(m).out_proj", d, SAM2Config.memoryDim, kernel: 1)
    }

    private static func promptEncoder(_ list: inout SpecList) {
        let d = SAM2Config.modelDim
        let p = "sam_prompt_encoder"
        list.add("\(p).pe_layer.positional_encoding_gaussian_matrix", [2, d / 2])
        for i in 0..<4 { list.add("\(p).point_embeddings.\(i).weight", [1, d]) }
        list.add("\(p).not_a_point_embed.weight", [1, d])
        // mask_downscaling: conv 1→4 (k2 s2), LN2d, GELU, conv 4→16 (k2 s2), LN2d, GELU, conv 16→256 (k1).
        list.conv("\(p).mask_downscaling.0", 1, 4, kernel: 2)
        list.norm("\(p).mask_downscaling.1", 4)
        list.conv("\(p).mask_downscaling.3", 4, 16, kernel: 2)
        list.norm("\(p).mask_downscaling.4", 16)
        list.conv("\(p).mask_downscaling.6", 16, d, kernel: 1)
        list.add("\(p).no_mask_embed.weight", [1, d])
    }

    private static func maskDecoder(_ list: inout SpecList) {
        let d = SAM2Config.modelDim
        let md = "sam_mask_decoder"
        let t = "\(md).transformer"
        // TwoWayTransformer: depth 2, MLP 2048, cross-attention downsampled 2x (internal 128).
        for i in 0..<2 {
            let l = "\(t).layers.\(i)"
            attention(&list, "\(l).self_attn", d, internalDim: d)
            list.norm("\(l).norm1", d)
            attention(&list, "\(l).cross_attn_token_to_image", d, internalDim: d / 2)
            list.norm("\(l).norm2", d)
            list.linear("\(l).mlp.layers.0", d, 2048)
            list.linear("\(l).mlp.layers.1", 2048, d)
            list.norm("\(l).norm3", d)
            list.norm("\(l).norm4", d)
            attention(&list, "\(l).cross_attn_image_to_token", d, internalDim: d / 2)
        }
        attention(&list, "\(t).final_attn_token_to_image", d, internalDim: d / 2)
        list.norm("\(t).norm_final_attn", d)
        let numMaskTokens = 4  // 3 multimask outputs + 1
        list.add("\(md).iou_token.weight", [1, d])
        list.add("\(md).mask_tokens.weight", [numMaskTokens, d])
        list.add("\(md).obj_score_token.weight", [1, d])
        list.convTranspose("\(md).output_upscaling.0", d, d / 4, kernel: 2)
        list.norm("\(md).output_upscaling.1", d / 4)
        list.convTranspose("\(md).output_upscaling.3", d / 4, d / 8, kernel: 2)
        list.conv("\(md).conv_s0", d, d / 8, kernel: 1)
        list.conv("\(md).conv_s1", d, d / 4, kernel: 1)
        for i in 0..<numMaskTokens {
            mlp(&list, "\(md).output_hypernetworks_mlps.\(i)", d, d, d / 8, layers: 3)
        }
        mlp(&list, "\(md).iou_prediction_head", d, d, numMaskTokens, layers: 3)
        mlp(&list, "\(md).pred_obj_score_head", d, d, 1, layers: 3)
    }
}

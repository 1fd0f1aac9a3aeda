/// The DINOv2 ViT-x/14 backbones (facebookresearch/dinov2 `vision_transformer.py`, pretrain models
/// without registers, `block_chunks=0` so blocks are `blocks.{i}` and not `blocks.{chunk}.{i}`).
public struct DINOv2Config: Sendable, Equatable, CustomStringConvertible {
    public enum FeedForward: String, Sendable { case mlp, swiglu }

    public let name: String
    public let embedDim: Int
    public let depth: Int
    public let numHeads: Int
    public let mlpRatio: Int
    public let feedForward: FeedForward
    public let patchSize: Int
    /// Training resolution; `pos_embed` holds (imageSize/patchSize)^2 + 1 tokens (37² + 1 at 518).
    public let imageSize: Int

    public static let small = DINOv2Config(name: "dinov2_vits14", embedDim: 384, depth: 12, numHeads: 6, mlpRatio: 4, feedForward: .mlp, patchSize: 14, imageSize: 518)
    public static let base = DINOv2Config(name: "dinov2_vitb14", embedDim: 768, depth: 12, numHeads: 12, mlpRatio: 4, feedForward: .mlp, patchSize: 14, imageSize: 518)
    public static let large = DINOv2Config(name: "dinov2_vitl14", embedDim: 1024, depth: 24, numHeads: 16, mlpRatio: 4, feedForward: .mlp, patchSize: 14, imageSize: 518)
    /// ViT-g uses `ffn_layer="swiglufused"`.
    public static let giant = DINOv2Config(name: "dinov2_vitg14", embedDim: 1536, depth: 40, numHeads: 24, mlpRatio: 4, feedForward: .swiglu, patchSize: 14, imageSize: 518)

    public static let all: [DINOv2Config] = [.small, .base, .large, .giant]

    public var description: String { "\(name) (embed \(embedDim), depth \(depth), heads \(numHeads))" }

    public var gridSize: Int { imageSize / patchSize }

    /// Hidden width of the feed-forward layer. SwiGLUFFNFused shrinks it to 2/3 and rounds up to a
    /// multiple of 8: `(int(hidden * 2 / 3) + 7) // 8 * 8`.
    public var hiddenDim: Int {
        let hidden = embedDim * mlpRatio
        switch feedForward {
        case .mlp: return hidden
        case .swiglu: return (hidden * 2 / 3 + 7) / 8 * 8
        }
    }
}

/// The `dinov2_vit*14_pretrain.pth` key → shape list, in state-dict order.
public enum DINOv2Keys {
    public static func specs(_ config: DINOv2Config) -> [TensorSpec] {
        let d = config.embedDim
        var list = SpecList()
        // Own parameters come before child modules in `state_dict()`.
        list.add("cls_token", [1, 1, d])
        list.add("pos_embed", [1, config.gridSize * config.gridSize + 1, d])
        list.add("mask_token", [1, d])
        list.conv("patch_embed.proj", 3, d, kernel: config.patchSize)
        for i in 0..<config.depth {
            let b = "blocks.\(i)"
            list.norm("\(b).norm1", d)
            list.linear("\(b).attn.qkv", d, 3 * d)
            list.linear("\(b).attn.proj", d, d)
            list.add("\(b).ls1.gamma", [d])
            list.norm("\(b).norm2", d)
            switch config.feedForward {
            case .mlp:
                list.linear("\(b).mlp.fc1", d, config.hiddenDim)
                list.linear("\(b).mlp.fc2", config.hiddenDim, d)
            case .swiglu:
                list.linear("\(b).mlp.w12", d, 2 * config.hiddenDim)
                list.linear("\(b).mlp.w3", config.hiddenDim, d)
            }
            list.add("\(b).ls2.gamma", [d])
        }
        list.norm("norm", d)
        return list.specs
    }
}

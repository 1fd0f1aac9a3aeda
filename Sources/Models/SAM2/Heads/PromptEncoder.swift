import Tensor

/// `prompt_encoder.py::PromptEncoder` (embed_dim 256, image embedding 32×32, input 512², mask_in_chans 16),
/// restricted to what FSSAM feeds it: never a point or box, and either no mask (final heads) or a
/// 128×128 mask prompt (memory creation). `point_embeddings.{0..3}` are never read (spec §6.2).
public struct PromptEncoder: Sendable {
    public let embedDim: Int
    public let imageEmbeddingSize: (height: Int, width: Int)
    public let peLayer: PositionEmbeddingRandom
    public let notAPointEmbed: Tensor
    public let noMaskEmbed: Tensor
    /// `mask_downscaling`: Conv(1→4,k2,s2) → LN2d → GELU → Conv(4→16,k2,s2) → LN2d → GELU → Conv(16→256,1×1).
    public let maskDownscaling: (conv0: Conv2d, norm1: LayerNorm2d, conv3: Conv2d, norm4: LayerNorm2d, conv6: Conv2d)

    public init(_ w: ModuleWeights, embedDim: Int = 256, imageEmbeddingSize: (Int, Int) = (32, 32),
                maskInChans: Int = 16) throws {
        self.embedDim = embedDim
        self.imageEmbeddingSize = (imageEmbeddingSize.0, imageEmbeddingSize.1)
        peLayer = try PositionEmbeddingRandom(w.child("pe_layer"), numPosFeats: embedDim / 2)
        notAPointEmbed = try w("not_a_point_embed.weight", shape: [1, embedDim])
        noMaskEmbed = try w("no_mask_embed.weight", shape: [1, embedDim])
        let m = w.child("mask_downscaling")
        let quarter = maskInChans / 4
        maskDownscaling = (
            try Conv2d(m.child("0"), in: 1, out: quarter, kernel: 2, stride: 2),
            try LayerNorm2d(m.child("1"), channels: quarter),
            try Conv2d(m.child("3"), in: quarter, out: maskInChans, kernel: 2, stride: 2),
            try LayerNorm2d(m.child("4"), channels: maskInChans),
            try Conv2d(m.child("6"), in: maskInChans, out: embedDim, kernel: 1))
    }

    /// Sparse embeddings with no points `[2, embedDim]`. `_forward_sam_heads` passes one dummy
    /// point with label −1 and `_embed_points` pads a second; label −1 zeroes the Fourier
    /// encoding and adds `not_a_point_embed`, so both rows are exactly that vector.
    public func sparseEmbeddingsWithoutPoints() -> Tensor {
        Tensor(shape: [2, embedDim], storage: notAPointEmbed.storage + notAPointEmbed.storage)
    }

    /// Dense embedding without a mask: `no_mask_embed` broadcast to `[1, embedDim, h, w]`.
    public func denseEmbeddingWithoutMask() -> Tensor {
        let (h, w) = imageEmbeddingSize
        return Tensor(shape: [1, embedDim, h, w]) { out in
            for c in 0..<embedDim { (out.baseAddress! + c * h * w).update(repeating: noMaskEmbed.storage[c], count: h * w) }
        }
    }

    /// `_embed_masks`: a `[1, 1, 128, 128]` mask prompt → `[1, embedDim, 32, 32]`.
    public func embedMask(_ mask: Tensor) -> Tensor {
        let d = maskDownscaling
        var x = d.norm1(d.conv0(mask)).gelu()
        x = d.norm4(d.conv3(x)).gelu()
        return d.conv6(x)
    }

    /// `get_dense_pe()`: `[1, embedDim, h, w]`, the same for every call.
    public func densePositionalEncoding() -> Tensor {
        let (h, w) = imageEmbeddingSize
        return peLayer.grid(height: h, width: w).reshaped([1, embedDim, h, w])
    }
}

import Tensor

/// `sam/transformer.py::TwoWayTransformer` (depth 2, dim 256, 8 heads, MLP 2048, ReLU,
/// attention downsample rate 2): the blocks, then a final tokens → image attention and
/// `norm_final_attn` (eps 1e-5).
public struct TwoWayTransformer: Sendable {
    public let layers: [TwoWayAttentionBlock]
    public let finalAttnTokenToImage: Attention
    public let normFinalAttn: LayerNorm
    public let embeddingDim: Int

    public init(_ w: ModuleWeights, depth: Int = 2, embeddingDim: Int = 256, numHeads: Int = 8, mlpDim: Int = 2048,
                attentionDownsampleRate: Int = 2) throws {
        layers = try (0..<depth).map { i in
            try TwoWayAttentionBlock(w.child("layers.\(i)"), embeddingDim: embeddingDim, numHeads: numHeads, mlpDim: mlpDim,
                                     attentionDownsampleRate: attentionDownsampleRate, skipFirstLayerPE: i == 0)
        }
        finalAttnTokenToImage = try Attention(w.child("final_attn_token_to_image"), embeddingDim: embeddingDim,
                                              numHeads: numHeads, downsampleRate: attentionDownsampleRate)
        normFinalAttn = try LayerNorm(w.child("norm_final_attn"), dim: embeddingDim, eps: 1e-5)
        self.embeddingDim = embeddingDim
    }

    /// One image: `imageEmbedding [1, C, h, w]`, `imagePE [1, C, h, w]`, `pointEmbedding [Nt, C]`
    /// → `(hs [Nt, C], keys [h·w, C])`.
    public func callAsFunction(imageEmbedding: Tensor, imagePE: Tensor, pointEmbedding: Tensor) -> (hs: Tensor, keys: Tensor) {
        let c = embeddingDim, hw = imageEmbedding.count / c
        // flatten(2).permute(0, 2, 1): NCHW → token-major [HW, C].
        var keys = HeadsTensorOps.transpose2d(imageEmbedding, rows: c, cols: hw)
        let keyPE = HeadsTensorOps.transpose2d(imagePE, rows: c, cols: hw)
        var queries = pointEmbedding
        for layer in layers {
            (queries, keys) = layer(queries: queries, keys: keys, queryPE: pointEmbedding, keyPE: keyPE)
        }
        let q = HeadsTensorOps.add(queries, pointEmbedding)
        let k = HeadsTensorOps.add(keys, keyPE)
        queries = normFinalAttn(HeadsTensorOps.add(queries, finalAttnTokenToImage(q: q, k: k, v: keys)))
        return (queries, keys)
    }
}

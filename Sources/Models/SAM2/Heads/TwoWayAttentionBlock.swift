import Tensor

/// `sam/transformer.py::TwoWayAttentionBlock`: (1) token self-attention, (2) tokens → image
/// cross-attention, (3) token MLP, (4) image → tokens cross-attention; post-norm, LayerNorm eps
/// 1e-5. Layer 0 (`skip_first_layer_pe`) replaces the tokens by their self-attention: no residual,
/// no PE (pitfall 18). The PEs re-added everywhere are the *original* tokens and the dense PE.
public struct TwoWayAttentionBlock: Sendable {
    public let selfAttn: TwoWayTransformer.Attention
    public let crossAttnTokenToImage: TwoWayTransformer.Attention
    public let crossAttnImageToToken: TwoWayTransformer.Attention
    public let mlp: MLP
    public let norm1: LayerNorm, norm2: LayerNorm, norm3: LayerNorm, norm4: LayerNorm
    public let skipFirstLayerPE: Bool

    public init(_ w: ModuleWeights, embeddingDim: Int, numHeads: Int, mlpDim: Int,
                attentionDownsampleRate: Int, skipFirstLayerPE: Bool) throws {
        selfAttn = try .init(w.child("self_attn"), embeddingDim: embeddingDim, numHeads: numHeads)
        crossAttnTokenToImage = try .init(w.child("cross_attn_token_to_image"), embeddingDim: embeddingDim,
                                          numHeads: numHeads, downsampleRate: attentionDownsampleRate)
        crossAttnImageToToken = try .init(w.child("cross_attn_image_to_token"), embeddingDim: embeddingDim,
                                          numHeads: numHeads, downsampleRate: attentionDownsampleRate)
        mlp = try MLP(w.child("mlp"), inputDim: embeddingDim, hiddenDim: mlpDim, outputDim: embeddingDim, numLayers: 2)
        norm1 = try LayerNorm(w.child("norm1"), dim: embeddingDim, eps: 1e-5)
        norm2 = try LayerNorm(w.child("norm2"), dim: embeddingDim, eps: 1e-5)
        norm3 = try LayerNorm(w.child("norm3"), dim: embeddingDim, eps: 1e-5)
        norm4 = try LayerNorm(w.child("norm4"), dim: embeddingDim, eps: 1e-5)
        self.skipFirstLayerPE = skipFirstLayerPE
    }

    /// One image: `queries [Nt, C]`, `keys [HW, C]` and their PEs → updated `(queries, keys)`.
    public func callAsFunction(queries: Tensor, keys: Tensor, queryPE: Tensor, keyPE: Tensor) -> (queries: Tensor, keys: Tensor) {
        typealias Op = HeadsTensorOps
        var queries = queries, keys = keys
        if skipFirstLayerPE {
            queries = selfAttn(q: queries, k: queries, v: queries)
        } else {
            let q = Op.add(queries, queryPE)
            queries = Op.add(queries, selfAttn(q: q, k: q, v: queries))
        }
        queries = norm1(queries)

        var q = Op.add(queries, queryPE)
        var k = Op.add(keys, keyPE)
        queries = norm2(Op.add(queries, crossAttnTokenToImage(q: q, k: k, v: keys)))

        queries = norm3(Op.add(queries, mlp(queries)))

        q = Op.add(queries, queryPE)
        k = Op.add(keys, keyPE)
        // Roles swapped: the image tokens query the prompt tokens.
        keys = norm4(Op.add(keys, crossAttnImageToToken(q: k, k: q, v: queries)))
        return (queries, keys)
    }
}

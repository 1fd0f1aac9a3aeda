import Tensor

extension TwoWayTransformer {
    /// `sam/transformer.py::Attention`: q/k/v projections to `embedding_dim / downsample_rate`,
    /// `num_heads` heads as contiguous channel slices, SDPA with scale 1/√head_dim, `out_proj` back.
    /// Self-attention uses rate 1 (head_dim 32); the three cross attentions rate 2 (head_dim 16).
    /// Nested in `TwoWayTransformer` because the memory attention's `RoPEAttention` is a different
    /// module with the same base name.
    public struct Attention: Sendable {
        public let qProj: PackedLinear
        public let kProj: PackedLinear
        public let vProj: PackedLinear
        public let outProj: PackedLinear
        public let numHeads: Int
        public var internalDim: Int { qProj.outFeatures }

        public init(_ w: ModuleWeights, embeddingDim: Int, numHeads: Int, downsampleRate: Int = 1) throws {
            let internalDim = embeddingDim / downsampleRate
            guard internalDim % numHeads == 0 else {
                throw ModelError(w.prefix, "internal dim \(internalDim) is not divisible by \(numHeads) heads")
            }
            qProj = try PackedLinear(w.child("q_proj"), in: embeddingDim, out: internalDim)
            kProj = try PackedLinear(w.child("k_proj"), in: embeddingDim, out: internalDim)
            vProj = try PackedLinear(w.child("v_proj"), in: embeddingDim, out: internalDim)
            outProj = try PackedLinear(w.child("out_proj"), in: internalDim, out: embeddingDim)
            self.numHeads = numHeads
        }

        /// `q [Nq, C]`, `k [Nk, C]`, `v [Nk, C]` (one image) → `[Nq, C]`.
        public func callAsFunction(q: Tensor, k: Tensor, v: Tensor) -> Tensor {
            let nq = q.count / qProj.inFeatures, nk = k.count / kProj.inFeatures
            let (queries, keys, values) = (qProj(q), kProj(k), vProj(v))
            let d = internalDim, headDim = internalDim / numHeads
            let attended = Tensor(shape: [nq, d]) { out in
                queries.withUnsafeBufferPointer { pq in keys.withUnsafeBufferPointer { pk in values.withUnsafeBufferPointer { pv in
                    // `_separate_heads` is reshape(b, n, heads, c/heads): head h is the column slice
                    // [h·headDim, (h+1)·headDim), which the kernel reads in place.
                    AttentionKernel.scaledDotProduct(
                        q: pq.baseAddress!, ldq: d, k: pk.baseAddress!, ldk: d, v: pv.baseAddress!, ldv: d,
                        queries: nq, keys: nk, heads: numHeads, headDim: headDim,
                        scale: 1 / Float(headDim).squareRoot(), output: out.baseAddress!, ldo: d)
                }}}
            }
            return outProj(attended)
        }
    }
}

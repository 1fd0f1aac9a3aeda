import Tensor

/// `memory_attention.py::MemoryAttentionLayer` as SAM 2 configures it (spec §4.4): pre-norm
/// self-attention with RoPE, pre-norm cross-attention to the memory (RoPE on q and spatial keys,
/// position only on keys), pre-norm FFN with ReLU. Dropout is off (eval); LayerNorm eps 1e-5.
public struct MemoryAttentionLayer: Sendable {
    public let selfAttn: RoPEAttention
    public let crossAttnImage: RoPEAttention
    public let linear1: PackedLinear
    public let linear2: PackedLinear
    public let norm1: LayerNorm
    public let norm2: LayerNorm
    public let norm3: LayerNorm

    public static let normEpsilon: Float = 1e-5

    public init(_ w: ModuleWeights, dModel: Int, memoryDim: Int) throws {
        selfAttn = try RoPEAttention(w.child("self_attn"), embeddingDim: dModel, kvInDim: dModel)
        crossAttnImage = try RoPEAttention(w.child("cross_attn_image"), embeddingDim: dModel, kvInDim: memoryDim)
        let feedForward = try w("linear1.weight").shape.first ?? 0
        linear1 = try PackedLinear(w.child("linear1"), in: dModel, out: feedForward)
        linear2 = try PackedLinear(w.child("linear2"), in: feedForward, out: dModel)
        norm1 = try LayerNorm(w.child("norm1"), dim: dModel, eps: Self.normEpsilon)
        norm2 = try LayerNorm(w.child("norm2"), dim: dModel, eps: Self.normEpsilon)
        norm3 = try LayerNorm(w.child("norm3"), dim: dModel, eps: Self.normEpsilon)
    }

    /// `x [HW, d_model]` → `[HW, d_model]`.
    func callAsFunction(_ x: Tensor, context: MemoryContext) -> Tensor {
        crossAttentionAndFeedForward(selfAttentionResidual(x, rope: context.rope), context: context, fixedSegment: nil)
    }

    /// `x + SelfAttn(LN1(x))`. pos_enc_at_attn=False: no additive position, only RoPE.
    func selfAttentionResidual(_ x: Tensor, rope: AxialRoPE) -> Tensor {
        var x = x
        add(&x, selfAttn.selfAttention(norm1(x), rope: rope))
        return x
    }

    /// The cross-attention's segment over the fixed memory tokens for `x` (the output of
    /// `selfAttentionResidual`): the part of this layer that does not depend on the refined query memory.
    func fixedMemorySegment(_ x: Tensor, context: MemoryContext) -> AttentionSegment {
        crossAttnImage.fixedMemorySegment(norm2(x), context: context)
    }

    /// From the output of `selfAttentionResidual`: `x + CrossAttn(LN2(x))`, then `x + FFN(LN3(x))`.
    /// `fixedSegment`: `fixedMemorySegment(x)` if it was computed before.
    func crossAttentionAndFeedForward(_ x: Tensor, context: MemoryContext, fixedSegment: AttentionSegment?) -> Tensor {
        var x = x
        add(&x, crossAttnImage.memoryCrossAttention(norm2(x), context: context, fixedSegment: fixedSegment))
        var hidden = linear1(norm3(x))
        hidden.withUnsafeMutableBufferPointer { Activations.reluInPlace($0.baseAddress!, count: $0.count) }
        add(&x, linear2(hidden))
        return x
    }

    private func add(_ x: inout Tensor, _ branch: Tensor) {
        precondition(x.count == branch.count, "residual \(x.shape) vs branch \(branch.shape)")
        x.withUnsafeMutableBufferPointer { dst in
            branch.withUnsafeBufferPointer { src in for i in 0..<dst.count { dst[i] += src[i] } }
        }
    }
}

import Tensor

/// `sam2/modeling/sam/transformer.py::RoPEAttention` as FSSAM vendors it: one head, q/k/v/out
/// projections, RoPE on queries and (spatial) keys after projection, and — on the
/// memory cross-attention — FSSAM's support calibration (spec §4.4–4.6).
public struct RoPEAttention: Sendable {
    public let qProj: PackedLinear
    public let kProj: PackedLinear
    public let vProj: PackedLinear
    public let outProj: PackedLinear
    /// `out_proj ∘ v_proj` as one Linear `kvInDim → embeddingDim` (`W_o·W_v`, `W_o·b_v + b_o`), for an
    /// attention whose values are narrower than its width (the memory cross-attention, 64 → 256):
    /// applied to attention-weighted memory tokens it replaces two products by one four times
    /// smaller. Nil when the values are as wide (self-attention).
    public let memoryValueOutput: PackedLinear?
    /// Width of q, k and v after projection (= head dim: SAM 2's memory attention has one head).
    public var internalDim: Int { qProj.outFeatures }

    /// `embeddingDim`: query and output width; `kvInDim`: memory width (64 for the cross-attention).
    public init(_ w: ModuleWeights, embeddingDim: Int, kvInDim: Int) throws {
        let internalDim = try w("q_proj.weight").shape.first ?? 0
        qProj = try PackedLinear(w.child("q_proj"), in: embeddingDim, out: internalDim)
        kProj = try PackedLinear(w.child("k_proj"), in: kvInDim, out: internalDim)
        vProj = try PackedLinear(w.child("v_proj"), in: kvInDim, out: internalDim)
        outProj = try PackedLinear(w.child("out_proj"), in: internalDim, out: embeddingDim)
        if kvInDim < internalDim {
            let (wv, bv) = (try w("v_proj.weight"), try w("v_proj.bias"))
            let (wo, bo) = (try w("out_proj.weight"), try w("out_proj.bias"))
            memoryValueOutput = Self.composed(outer: (wo, bo), inner: (wv, bv))
        } else {
            memoryValueOutput = nil
        }
    }

    /// The Linear `x ↦ outer(inner(x))`, summed in double precision and rounded once.
    static func composed(outer: (weight: Tensor, bias: Tensor), inner: (weight: Tensor, bias: Tensor)) -> PackedLinear {
        let (n, m, k) = (outer.weight.shape[0], outer.weight.shape[1], inner.weight.shape[1])
        precondition(inner.weight.shape[0] == m, "cannot compose [\(n), \(m)] after [\(inner.weight.shape[0]), \(k)]")
        var weight = [Float](repeating: 0, count: n * k), bias = [Float](repeating: 0, count: n)
        for o in 0..<n {
            var b = Double(outer.bias.storage[o])
            for j in 0..<m { b += Double(outer.weight.storage[o * m + j]) * Double(inner.bias.storage[j]) }
            bias[o] = Float(b)
            for c in 0..<k {
                var s = 0.0
                for j in 0..<m { s += Double(outer.weight.storage[o * m + j]) * Double(inner.weight.storage[j * k + c]) }
                weight[o * k + c] = Float(s)
            }
        }
        return PackedLinear(weight: Tensor(shape: [n, k], storage: weight), bias: Tensor(shape: [n], storage: bias))
    }

    var scale: Float { 1 / Float(internalDim).squareRoot() }

    /// Self-attention on `[N, C]` tokens of one H×W frame: RoPE on q and k, none on v.
    public func selfAttention(_ x: Tensor, rope: AxialRoPE) -> Tensor {
        let q = rope(qProj(x)), k = rope(kProj(x)), v = vProj(x)
        let n = x.shape[0], d = internalDim
        let attended = Tensor(shape: [n, d]) { out in
            q.withUnsafeBufferPointer { pq in k.withUnsafeBufferPointer { pk in v.withUnsafeBufferPointer { pv in
                AttentionKernel.scaledDotProduct(q: pq.baseAddress!, ldq: d, k: pk.baseAddress!, ldk: d,
                                                 v: pv.baseAddress!, ldv: d, queries: n, keys: n, heads: 1,
                                                 headDim: d, scale: scale, output: out.baseAddress!, ldo: d)
            }}}
        }
        return outProj(attended)
    }

    /// `RoPE(q_proj(x))` of `[N, C]` tokens of one frame.
    func rotatedQueries(_ x: Tensor, rope: AxialRoPE) -> Tensor { rope(qProj(x)) }

    /// This layer's keys of memory tokens, `k_proj(memory + pos)` (`keyInput` = memory + pos),
    /// with RoPE on the first `rotated` rows (spatial tokens; every frame on the same grid, so row
    /// r takes the angles of token r mod H·W) and none on the pointer tokens after them.
    func memoryKeys(_ keyInput: Tensor, rotated: Int, rope: AxialRoPE) -> Tensor {
        precondition(rotated >= 0 && rotated <= keyInput.shape[0] && rotated % rope.tokens == 0,
                     "\(rotated) rotated keys of \(keyInput.shape[0]) are not whole \(rope.tokens)-token frames")
        var k = kProj(keyInput)
        k.withUnsafeMutableBufferPointer { rope.apply($0.baseAddress!, rows: rotated, ld: internalDim) }
        return k
    }

    /// The attention of rotated queries `q [N, d]` over one segment of memory tokens: `keys [Nk, d]`
    /// from `memoryKeys`, `memory [Nk, mem_dim]` the tokens themselves, `bias` FSSAM's calibration
    /// of a block of them. The values are the memory tokens, not `v_proj` of them: `v_proj` is
    /// affine and a row's softmax weights sum to 1, so `Σ w·v_proj(m) = v_proj(Σ w·m)`, which
    /// `output` applies once per query — P·V over 64 channels instead of 256.
    func segment(q: Tensor, keys: Tensor, memory: Tensor, bias: CalibratedAttentionKernel.Bias?) -> AttentionSegment {
        let (n, nk, d, dv) = (q.shape[0], keys.shape[0], internalDim, memory.shape[1])
        precondition(q.shape[1] == d && keys.shape[1] == d && memory.shape[0] == nk,
                     "cross-attention segment: q \(q.shape), keys \(keys.shape), memory \(memory.shape)")
        return q.withUnsafeBufferPointer { pq in keys.withUnsafeBufferPointer { pk in memory.withUnsafeBufferPointer { pm in
            CalibratedAttentionKernel.segment(q: pq.baseAddress!, k: pk.baseAddress!, v: pm.baseAddress!, queries: n, keys: nk,
                                              dim: d, valueDim: dv, scale: scale, bias: bias)
        }}}
    }

    /// `out_proj(v_proj(a))` of the attention-weighted memory tokens `a [N, mem_dim]`, as the one
    /// composed Linear where the values are narrower.
    func output(attendedMemory a: Tensor) -> Tensor { memoryValueOutput.map { $0(a) } ?? outProj(vProj(a)) }
}

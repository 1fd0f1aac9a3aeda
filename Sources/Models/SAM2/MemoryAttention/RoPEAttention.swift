import Tensor

/// `sam2/modeling/sam/transformer.py::RoPEAttention` as FSSAM vendors it: one head, q/k/v/out
/// projections, RoPE on queries and (spatial) keys after projection, and — on the
/// memory cross-attention — FSSAM's support calibration (spec §4.4–4.6).
public struct RoPEAttention: Sendable {
    public let qProj: PackedLinear
    public let kProj: PackedLinear
    public let vProj: PackedLinear
    public let outProj: PackedLinear
    /// Width of q, k and v after projection (= head dim: SAM 2's memory attention has one head).
    public var internalDim: Int { qProj.outFeatures }

    /// `embeddingDim`: query and output width; `kvInDim`: memory width (64 for the cross-attention).
    public init(_ w: ModuleWeights, embeddingDim: Int, kvInDim: Int) throws {
        let internalDim = try w("q_proj.weight").shape.first ?? 0
        qProj = try PackedLinear(w.child("q_proj"), in: embeddingDim, out: internalDim)
        kProj = try PackedLinear(w.child("k_proj"), in: kvInDim, out: internalDim)
        vProj = try PackedLinear(w.child("v_proj"), in: kvInDim, out: internalDim)
        outProj = try PackedLinear(w.child("out_proj"), in: internalDim, out: embeddingDim)
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

    /// Cross-attention from `[N, C]` query tokens to the memory bank:
    /// `k = k_proj(memory + pos)`, `v = v_proj(memory)`, RoPE on q and on the spatial keys (every
    /// frame on the same grid; the `numKExcludeRope` pointer tokens at the end are never rotated).
    /// With `calibration` (FSSAM: always), one key block gets the support-calibration bias;
    /// `supportMasks[i]` is support i's `H·W` mask (legacy-nearest downsampled, binary).
    public func crossAttention(_ x: Tensor, memory: Tensor, memoryWithPos: Tensor, numKExcludeRope: Int,
                               rope: AxialRoPE, calibration: SupportCalibration?, supportMasks: [[Float]]) -> Tensor {
        let n = x.shape[0], d = internalDim, nk = memory.shape[0]
        let frameTokens = rope.tokens, spatial = nk - numKExcludeRope
        precondition(spatial >= 0 && spatial % frameTokens == 0,
                     "memory has \(spatial) spatial tokens, not a multiple of the \(frameTokens)-token grid")
        let q = rope(qProj(x))
        var k = kProj(memoryWithPos)
        k.withUnsafeMutableBufferPointer { rope.apply($0.baseAddress!, rows: spatial, ld: d) }
        let v = vProj(memory)
        let attended: Tensor
        if let calibration {
            let frames = spatial / frameTokens
            // Spatial memories are the k supports and then the query Disc memory.
            let supports = frames - 1
            let (prototypeBlocks, calibrated) = calibration.plan(supports: supports)
            precondition(calibrated < frames && prototypeBlocks.allSatisfy { $0 < supportMasks.count },
                         "calibration \(calibration) for \(supports) supports needs masks \(prototypeBlocks), has \(supportMasks.count)")
            let cosNorm = calibration.normalizedSimilarity(keys: k, dim: d, height: rope.height, width: rope.width,
                                                           supports: supports, supportMasks: supportMasks)
            // The bias is `α·min(A_norm + (cos_norm − 1), 0)`: keep `cos_norm − 1` per key.
            let similarityMinusOne = cosNorm.map { $0 - 1 }
            attended = Tensor(shape: [n, d]) { out in
                q.withUnsafeBufferPointer { pq in k.withUnsafeBufferPointer { pk in v.withUnsafeBufferPointer { pv in
                    similarityMinusOne.withUnsafeBufferPointer { sim in
                        CalibratedAttentionKernel.run(
                            q: pq.baseAddress!, k: pk.baseAddress!, v: pv.baseAddress!, queries: n, keys: nk, dim: d,
                            scale: scale, calibratedKeys: (calibrated * frameTokens)..<((calibrated + 1) * frameTokens),
                            similarityMinusOne: sim.baseAddress!, alpha: SupportCalibration.alpha,
                            output: out.baseAddress!)
                    }
                }}}
            }
        } else {
            attended = Tensor(shape: [n, d]) { out in
                q.withUnsafeBufferPointer { pq in k.withUnsafeBufferPointer { pk in v.withUnsafeBufferPointer { pv in
                    AttentionKernel.scaledDotProduct(q: pq.baseAddress!, ldq: d, k: pk.baseAddress!, ldk: d,
                                                     v: pv.baseAddress!, ldv: d, queries: n, keys: nk, heads: 1,
                                                     headDim: d, scale: scale, output: out.baseAddress!, ldo: d)
                }}}
            }
        }
        return outProj(attended)
    }
}

import Tensor

/// What every memory-attention layer's cross-attention reads, prepared once per call: the memory
/// tokens and their key inputs (`memory + pos`) in the bank's two parts, the RoPE table, and the
/// support calibration.
struct MemoryContext {
    /// `MemoryBank.Fixed.memory` and `memory + memoryPos`, `[k·HW + P, mem_dim]`.
    let fixedMemory: Tensor
    let fixedKeyInput: Tensor
    /// The support blocks' tokens at the start of the fixed part (RoPE'd); pointer tokens follow.
    let fixedRotated: Int
    /// The refined query block and `+ pos`, `[HW, mem_dim]`; nil while computing `MemoryAttention.prefix`.
    let queryMemory: Tensor?
    let queryKeyInput: Tensor?
    let rope: AxialRoPE
    let calibration: SupportCalibration?
    let supportCount: Int
    let supportMasks: [[Float]]

    init(fixed: MemoryBank.Fixed, queryMemory: Tensor?, queryMemoryPos: Tensor?, rope: AxialRoPE,
         calibration: SupportCalibration?, supportMasks: [[Float]]) {
        fixedMemory = fixed.memory
        fixedKeyInput = Self.sum(fixed.memory, fixed.memoryPos)
        fixedRotated = fixed.spatialTokens
        self.queryMemory = queryMemory
        queryKeyInput = queryMemory.map { Self.sum($0, queryMemoryPos!) }
        self.rope = rope
        self.calibration = calibration
        supportCount = fixed.supportCount
        self.supportMasks = supportMasks
    }

    /// The block whose logits the calibration biases, as a block of the fixed part's support
    /// tokens (`released` with k > 1: support 1), or nil for the query block; nil also without calibration.
    var calibratedFixedBlock: Int? {
        guard let calibration else { return nil }
        let block = calibration.plan(supports: supportCount).calibratedBlock
        return block < supportCount ? block : nil
    }

    /// Whether the calibration biases the query block (k = 1, or `paper`).
    var calibratesQueryBlock: Bool { calibration != nil && calibratedFixedBlock == nil }

    private static func sum(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.shape == b.shape, "memory \(a.shape) and position \(b.shape) differ")
        var out = a
        out.withUnsafeMutableBufferPointer { dst in b.withUnsafeBufferPointer { p in for i in 0..<dst.count { dst[i] += p[i] } } }
        return out
    }
}

extension RoPEAttention {
    /// FSSAM's memory cross-attention of `t [HW, C]` (the layer's LN2 output): one softmax over
    /// the fixed tokens (supports, pointers) and the refined query block, computed as two
    /// attention segments and combined in that order. `fixedSegment`, when given, is the fixed
    /// part's segment computed earlier for the same `t` (`MemoryAttention.prefix`, layer 0).
    func memoryCrossAttention(_ t: Tensor, context: MemoryContext, fixedSegment precomputed: AttentionSegment?) -> Tensor {
        guard let queryMemory = context.queryMemory, let queryKeyInput = context.queryKeyInput else {
            preconditionFailure("memory cross-attention without the query memory")
        }
        let q = rotatedQueries(t, rope: context.rope)
        // The fixed keys are needed for their segment, and for the prototypes of a query-block calibration.
        let fixedKeys = precomputed == nil || context.calibratesQueryBlock
            ? memoryKeys(context.fixedKeyInput, rotated: context.fixedRotated, rope: context.rope) : nil
        let queryKeys = memoryKeys(queryKeyInput, rotated: queryKeyInput.shape[0], rope: context.rope)
        let fixed = precomputed ?? fixedSegment(q: q, fixedKeys: fixedKeys!, context: context)
        var bias: CalibratedAttentionKernel.Bias?
        if context.calibratesQueryBlock {
            bias = calibrationBias(supportKeys: fixedKeys!, target: queryKeys, targetRow: 0, context: context)
        }
        let query = segment(q: q, keys: queryKeys, memory: queryMemory, bias: bias)
        return output(attendedMemory: AttentionSegment.combined([fixed, query]))
    }

    /// The fixed part's segment for `t` alone (what `MemoryAttention.prefix` keeps of layer 0).
    func fixedMemorySegment(_ t: Tensor, context: MemoryContext) -> AttentionSegment {
        let q = rotatedQueries(t, rope: context.rope)
        let fixedKeys = memoryKeys(context.fixedKeyInput, rotated: context.fixedRotated, rope: context.rope)
        return fixedSegment(q: q, fixedKeys: fixedKeys, context: context)
    }

    private func fixedSegment(q: Tensor, fixedKeys: Tensor, context: MemoryContext) -> AttentionSegment {
        var bias: CalibratedAttentionKernel.Bias?
        if let block = context.calibratedFixedBlock {
            bias = calibrationBias(supportKeys: fixedKeys, target: fixedKeys, targetRow: block * context.rope.tokens,
                                   context: context)
        }
        return segment(q: q, keys: fixedKeys, memory: context.fixedMemory, bias: bias)
    }

    /// The bias on the `H·W` keys of `target` from row `targetRow` on, with prototypes from the
    /// support blocks at the start of `supportKeys` (spec §4.6 steps 4–16).
    private func calibrationBias(supportKeys: Tensor, target: Tensor, targetRow: Int,
                                 context: MemoryContext) -> CalibratedAttentionKernel.Bias {
        let (rope, d) = (context.rope, internalDim)
        let cosNorm = supportKeys.withUnsafeBufferPointer { s in
            target.withUnsafeBufferPointer { t in
                context.calibration!.normalizedSimilarity(
                    supportKeys: s.baseAddress!, target: t.baseAddress! + targetRow * d, dim: d, height: rope.height,
                    width: rope.width, supports: context.supportCount, supportMasks: context.supportMasks)
            }
        }
        // The bias is `α·min(A_norm + (cos_norm − 1), 0)`: keep `cos_norm − 1` per key.
        return CalibratedAttentionKernel.Bias(keys: targetRow..<(targetRow + rope.tokens),
                                              similarityMinusOne: cosNorm.map { $0 - 1 }, alpha: SupportCalibration.alpha)
    }
}

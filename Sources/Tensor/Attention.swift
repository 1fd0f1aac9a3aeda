import TensorAVX512

/// Multi-head scaled dot-product attention, `softmax(q·kᵀ·scale)·v` per head.
///
/// Work is split into (head, block of query rows) tasks. Each task computes one block of scores
/// with a GEMM, applies scale + softmax in place while the block is still in cache, then
/// multiplies by V straight into the output's head columns. The full `[heads, Nq, Nk]` score
/// tensor is never materialised; per worker only `queryBlock × Nk` floats are live.
public enum AttentionKernel {
    /// Query rows per task: 128 × 1601 keys × 4 B ≈ 0.8 MB of scores, about one L2.
    public static let queryBlock = 128

    /// Heads are laid out as column slices: head `h` of `q` is `q[row·ldq + h·headDim ..< +headDim]`,
    /// likewise for `k`, `v` and `output`. A packed `[N, 3·C]` QKV projection can therefore be
    /// passed as `q = base, k = base + C, v = base + 2C` with `ld = 3C`, without copies.
    /// `adjust`, when given, edits each row of scaled logits in place before its softmax.
    public static func scaledDotProduct(
        q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, ldk: Int, v: UnsafePointer<Float>, ldv: Int,
        queries: Int, keys: Int, heads: Int, headDim: Int, valueDim: Int? = nil, scale: Float,
        output: UnsafeMutablePointer<Float>, ldo: Int, useAVX512: Bool = CPUFeatures.hasAVX512,
        adjustingLogits adjust: ((UnsafeMutablePointer<Float>) -> Void)? = nil
    ) {
        let dv = valueDim ?? headDim
        if useAVX512 {
            scaledDotProductAVX512(q: q, ldq: ldq, k: k, ldk: ldk, v: v, ldv: ldv, queries: queries, keys: keys,
                                   heads: heads, headDim: headDim, valueDim: dv, scale: scale, output: output, ldo: ldo,
                                   adjustingLogits: adjust)
            return
        }
        let blocksPerHead = (queries + queryBlock - 1) / queryBlock
        nonisolated(unsafe) let (pq, pk, pv, po) = (q, k, v, output)
        // One task per worker; each product inside runs on its worker's thread alone.
        do {
            ComputeThreads.parallelRanges(heads * blocksPerHead) { tasks in
                let scores = UnsafeMutablePointer<Float>.allocate(capacity: queryBlock * keys)
                defer { scores.deallocate() }
                for task in tasks {
                    let head = task / blocksPerHead
                    let row0 = (task % blocksPerHead) * queryBlock
                    let rows = min(queryBlock, queries - row0)
                    // An adjustment sees the scaled logits, as PyTorch adds its bias after `q·kᵀ·scale`.
                    BLAS.sgemm(transposeB: true, m: rows, n: keys, k: headDim, alpha: adjust == nil ? 1 : scale,
                               a: pq + row0 * ldq + head * headDim, lda: ldq,
                               b: pk + head * headDim, ldb: ldk,
                               c: scores, ldc: keys, threads: 1)
                    for r in 0..<rows {
                        if let adjust {
                            adjust(scores + r * keys)
                            Softmax.row(scores + r * keys, count: keys)
                        } else {
                            Softmax.row(scores + r * keys, count: keys, scale: scale)
                        }
                    }
                    BLAS.sgemm(m: rows, n: dv, k: keys,
                               a: scores, lda: keys,
                               b: pv + head * dv, ldb: ldv,
                               c: po + row0 * ldo + head * dv, ldc: ldo, threads: 1)
                }
            }
        }
    }
}

extension AttentionKernel {
    /// Query rows per task: about 120 (scores of a block stay in L2), a multiple of the 6-row
    /// micro-tile, sized so that every thread gets the same number of tasks.
    static func balancedBlock(queries: Int, heads: Int) -> Int {
        let threads = max(1, ComputeThreads.count)
        let perThread = (heads * queries + threads - 1) / threads
        let tasksPerThread = max(1, (perThread + 119) / 120)
        let totalTasks = tasksPerThread * threads
        let tasksPerHead = max(1, totalTasks / heads)
        let rows = (queries + tasksPerHead - 1) / tasksPerHead
        return min(120, max(6, (rows + 5) / 6 * 6))
    }

    /// Single-head `softmax(adjust(q·kᵀ·scale))·v` for `q [queries, dim]`, `k`, `v [keys, dim]`
    /// (row strides = dim) into `output [queries, dim]`. `adjust` edits one row of scaled logits in
    /// place before its softmax; it is called from several threads at once, one row at a time.
    /// FSSAM's support calibration biases one block of memory keys this way.
    public static func scaledDotProduct(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, queries: Int, keys: Int, dim: Int,
        scale: Float, output: UnsafeMutablePointer<Float>, adjustingLogits adjust: (UnsafeMutablePointer<Float>) -> Void,
        useAVX512: Bool = CPUFeatures.hasAVX512
    ) {
        withoutActuallyEscaping(adjust) { adjust in
            scaledDotProduct(q: q, ldq: dim, k: k, ldk: dim, v: v, ldv: dim, queries: queries, keys: keys, heads: 1,
                             headDim: dim, scale: scale, output: output, ldo: dim, useAVX512: useAVX512,
                             adjustingLogits: adjust)
        }
    }
}

extension AttentionKernel {
    /// The same computation on the AVX-512 packed GEMM: each head's K and V are packed once into
    /// 32-column panels, then every (head, query block) task runs scores, softmax and P·V on
    /// one thread with its scores block in L2.
    static func scaledDotProductAVX512(
        q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, ldk: Int, v: UnsafePointer<Float>, ldv: Int,
        queries: Int, keys: Int, heads: Int, headDim: Int, valueDim dv: Int, scale: Float,
        output: UnsafeMutablePointer<Float>, ldo: Int, adjustingLogits adjust: ((UnsafeMutablePointer<Float>) -> Void)? = nil
    ) {
        let block = balancedBlock(queries: queries, heads: heads)
        let kStride = AVX512GEMM.packedCount(n: keys, k: headDim)
        let vStride = AVX512GEMM.packedCount(n: dv, k: keys)
        let packedK = UnsafeMutablePointer<Float>.allocate(capacity: heads * kStride)
        let packedV = UnsafeMutablePointer<Float>.allocate(capacity: heads * vStride)
        defer { packedK.deallocate(); packedV.deallocate() }
        nonisolated(unsafe) let (pq, pk, pv, po, kp, vp) = (q, k, v, output, packedK, packedV)
        // Packing is split by 32-wide panels of every head's K and V, so one head (SAM 2's memory
        // attention) packs on all threads too.
        let (kPanels, vPanels) = ((keys + 31) / 32, (dv + 31) / 32)
        let panelsPerHead = kPanels + vPanels
        ComputeThreads.parallelRanges(heads * panelsPerHead) { range in
            var rows: [Float] = []
            for task in range {
                let (h, panel) = (task / panelsPerHead, task % panelsPerHead)
                if panel < kPanels {
                    // K_h [keys, headDim] is the `W [n, k]` layout of scores = Q·K_hᵀ.
                    let key0 = panel * 32, count = min(32, keys - key0)
                    let destination = kp + h * kStride + panel * 32 * headDim
                    if heads == 1 && ldk == headDim {
                        AVX512GEMM.pack(pk + key0 * headDim, n: count, k: headDim, into: destination)
                    } else {
                        rows.removeAll(keepingCapacity: true)
                        for r in key0..<(key0 + count) { rows.append(contentsOf: UnsafeBufferPointer(start: pk + r * ldk + h * headDim, count: headDim)) }
                        rows.withUnsafeBufferPointer { AVX512GEMM.pack($0.baseAddress!, n: count, k: headDim, into: destination) }
                    }
                } else {
                    // V_h [keys, dv] is the `[k, n]` operand of P·V_h.
                    let col0 = (panel - kPanels) * 32
                    AVX512GEMM.packRows(pv + h * dv + col0, ldb: ldv, k: keys, n: min(32, dv - col0),
                                        into: vp + h * vStride + (panel - kPanels) * 32 * keys)
                }
            }
        }
        let blocksPerHead = (queries + block - 1) / block
        ComputeThreads.parallelRanges(heads * blocksPerHead) { tasks in
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: block * keys)
            let attended = UnsafeMutablePointer<Float>.allocate(capacity: block * dv)
            defer { scores.deallocate(); attended.deallocate() }
            for task in tasks {
                let head = task / blocksPerHead
                let row0 = (task % blocksPerHead) * block
                let rows = min(block, queries - row0)
                let keyPanels = (keys + AVX512GEMM.panelWidth - 1) / AVX512GEMM.panelWidth
                scores.update(repeating: 0, count: rows * keys)
                AVX512GEMM.multiplyAccumulate(a: pq + row0 * ldq + head * headDim, lda: ldq, m: rows, k: headDim,
                                              packed: kp + head * kStride, n: keys, panelRange: 0..<keyPanels,
                                              c: scores, ldc: keys)
                var inverseSums = [Float](repeating: 0, count: rows)
                if let adjust {
                    // The adjustment sees the scaled logits, as PyTorch adds its bias after `q·kᵀ·scale`.
                    for r in 0..<rows {
                        let row = scores + r * keys
                        for j in 0..<keys { row[j] *= scale }
                        adjust(row)
                        inverseSums[r] = 1 / VectorMath16.unnormalizedSoftmaxRow(row, count: keys, scale: 1)
                    }
                } else {
                    for r in 0..<rows { inverseSums[r] = 1 / VectorMath16.unnormalizedSoftmaxRow(scores + r * keys, count: keys, scale: scale) }
                }
                attended.update(repeating: 0, count: rows * dv)
                let valuePanels = (dv + AVX512GEMM.panelWidth - 1) / AVX512GEMM.panelWidth
                AVX512GEMM.multiplyAccumulate(a: scores, lda: keys, m: rows, k: keys,
                                              packed: vp + head * vStride, n: dv, panelRange: 0..<valuePanels,
                                              c: attended, ldc: dv)
                for r in 0..<rows {
                    let dst = po + (row0 + r) * ldo + head * dv, src = attended + r * dv, inv = inverseSums[r]
                    for c in 0..<dv { dst[c] = src[c] * inv }
                }
            }
        }
    }
}

extension Tensor {
    /// `F.scaled_dot_product_attention(q, k, v)` for `q [B, H, Nq, D]`, `k [B, H, Nk, D]`,
    /// `v [B, H, Nk, Dv]`; the default scale is 1/√D.
    public static func scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, scale: Float? = nil,
                                                 useAVX512: Bool = CPUFeatures.hasAVX512) -> Tensor {
        precondition(q.rank == 4 && k.rank == 4 && v.rank == 4, "attention needs [B,H,N,D] tensors, got \(q.shape), \(k.shape), \(v.shape)")
        let (b, h, nq, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
        let nk = k.shape[2], dv = v.shape[3]
        precondition(k.shape == [b, h, nk, d] && v.shape == [b, h, nk, dv],
                     "attention shapes disagree: q \(q.shape), k \(k.shape), v \(v.shape)")
        let s = scale ?? 1 / Float(d).squareRoot()
        return Tensor(shape: [b, h, nq, dv]) { out in
            q.withUnsafeBufferPointer { pq in k.withUnsafeBufferPointer { pk in v.withUnsafeBufferPointer { pv in
                // Each (batch, head) pair is its own single-head problem with contiguous rows.
                for bh in 0..<(b * h) {
                    AttentionKernel.scaledDotProduct(
                        q: pq.baseAddress! + bh * nq * d, ldq: d, k: pk.baseAddress! + bh * nk * d, ldk: d,
                        v: pv.baseAddress! + bh * nk * dv, ldv: dv, queries: nq, keys: nk, heads: 1,
                        headDim: d, valueDim: dv, scale: s, output: out.baseAddress! + bh * nq * dv, ldo: dv,
                        useAVX512: useAVX512)
                }
            }}}
        }
    }
}

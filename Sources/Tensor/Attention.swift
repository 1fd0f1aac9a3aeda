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
    public static func scaledDotProduct(
        q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, ldk: Int, v: UnsafePointer<Float>, ldv: Int,
        queries: Int, keys: Int, heads: Int, headDim: Int, valueDim: Int? = nil, scale: Float,
        output: UnsafeMutablePointer<Float>, ldo: Int, useAVX512: Bool = CPUFeatures.hasAVX512
    ) {
        let dv = valueDim ?? headDim
        if useAVX512 {
            scaledDotProductAVX512(q: q, ldq: ldq, k: k, ldk: ldk, v: v, ldv: ldv, queries: queries, keys: keys,
                                   heads: heads, headDim: headDim, valueDim: dv, scale: scale, output: output, ldo: ldo)
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
                    BLAS.sgemm(transposeB: true, m: rows, n: keys, k: headDim,
                               a: pq + row0 * ldq + head * headDim, lda: ldq,
                               b: pk + head * headDim, ldb: ldk,
                               c: scores, ldc: keys, threads: 1)
                    for r in 0..<rows { Softmax.row(scores + r * keys, count: keys, scale: scale) }
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
    /// The same computation on the AVX-512 packed GEMM: each head's K and V are packed once into
    /// 32-column panels, then every (head, query block) task runs scores, softmax and P·V on
    /// one thread with its scores block in L2.
    static func scaledDotProductAVX512(
        q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, ldk: Int, v: UnsafePointer<Float>, ldv: Int,
        queries: Int, keys: Int, heads: Int, headDim: Int, valueDim dv: Int, scale: Float,
        output: UnsafeMutablePointer<Float>, ldo: Int
    ) {
        let block = 120   // a multiple of the 6-row micro-tile
        let kStride = AVX512GEMM.packedCount(n: keys, k: headDim)
        let vStride = AVX512GEMM.packedCount(n: dv, k: keys)
        let packedK = UnsafeMutablePointer<Float>.allocate(capacity: heads * kStride)
        let packedV = UnsafeMutablePointer<Float>.allocate(capacity: heads * vStride)
        defer { packedK.deallocate(); packedV.deallocate() }
        nonisolated(unsafe) let (pq, pk, pv, po, kp, vp) = (q, k, v, output, packedK, packedV)
        ComputeThreads.parallelFor(heads) { h in
            // K_h [keys, headDim] is already the `W [n, k]` layout of scores = Q·K_hᵀ.
            var kh = [Float](repeating: 0, count: keys * headDim)
            for r in 0..<keys { for c in 0..<headDim { kh[r * headDim + c] = pk[r * ldk + h * headDim + c] } }
            kh.withUnsafeBufferPointer { AVX512GEMM.pack($0.baseAddress!, n: keys, k: headDim, into: kp + h * kStride) }
            // V_h [keys, dv] is the `[k, n]` operand of P·V_h.
            AVX512GEMM.packRows(pv + h * dv, ldb: ldv, k: keys, n: dv, into: vp + h * vStride)
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
                for r in 0..<rows { inverseSums[r] = 1 / VectorMath16.unnormalizedSoftmaxRow(scores + r * keys, count: keys, scale: scale) }
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

import Foundation
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
        run(q: q, ldq: ldq, k: k, ldk: ldk, v: v, ldv: ldv, queries: queries, keys: keys, heads: heads,
            headDim: headDim, valueDim: valueDim ?? headDim, scale: scale, epilogue: .normalized(output: output, ldo: ldo),
            useAVX512: useAVX512, adjustingLogits: adjust)
    }

    /// What a kernel does with each row once its scores are exponentiated.
    enum Epilogue {
        /// `softmax(·)·v` into `output` (row stride `ldo`, head `h` at columns `h·dv ..< (h+1)·dv`).
        case normalized(output: UnsafeMutablePointer<Float>, ldo: Int)
        /// One head's `AttentionSegment`: per row the shift and the sum of the exponentials, and
        /// the exponential-weighted values `[queries, dv]`, not divided by the sum.
        case segment(rowMax: UnsafeMutablePointer<Float>, rowSum: UnsafeMutablePointer<Float>, weighted: UnsafeMutablePointer<Float>)
    }

    static func run(
        q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, ldk: Int, v: UnsafePointer<Float>, ldv: Int,
        queries: Int, keys: Int, heads: Int, headDim: Int, valueDim dv: Int, scale: Float, epilogue: Epilogue,
        useAVX512: Bool, adjustingLogits adjust: ((UnsafeMutablePointer<Float>) -> Void)?
    ) {
        if case .segment = epilogue { precondition(heads == 1, "attention segments are single-head") }
        if useAVX512 {
            scaledDotProductAVX512(q: q, ldq: ldq, k: k, ldk: ldk, v: v, ldv: ldv, queries: queries, keys: keys,
                                   heads: heads, headDim: headDim, valueDim: dv, scale: scale, epilogue: epilogue,
                                   adjustingLogits: adjust)
            return
        }
        let blocksPerHead = (queries + queryBlock - 1) / queryBlock
        nonisolated(unsafe) let (pq, pk, pv) = (q, k, v)
        nonisolated(unsafe) let epilogue = epilogue
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
                    let rowScale: Float = adjust == nil ? scale : 1
                    switch epilogue {
                    case .normalized(let po, let ldo):
                        for r in 0..<rows {
                            adjust?(scores + r * keys)
                            Softmax.row(scores + r * keys, count: keys, scale: rowScale)
                        }
                        BLAS.sgemm(m: rows, n: dv, k: keys,
                                   a: scores, lda: keys,
                                   b: pv + head * dv, ldb: ldv,
                                   c: po + row0 * ldo + head * dv, ldc: ldo, threads: 1)
                    case .segment(let rowMax, let rowSum, let weighted):
                        for r in 0..<rows {
                            adjust?(scores + r * keys)
                            rowSum[row0 + r] = Softmax.unnormalizedRow(scores + r * keys, count: keys, scale: rowScale,
                                                                       shift: &rowMax[row0 + r])
                        }
                        BLAS.sgemm(m: rows, n: dv, k: keys,
                                   a: scores, lda: keys,
                                   b: pv, ldb: ldv,
                                   c: weighted + row0 * dv, ldc: dv, threads: 1)
                    }
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

    /// One segment of keys' share of the single-head attention `softmax(adjust(q·kᵀ·scale))·v`,
    /// for `q [queries, dim]`, `k [keys, dim]`, `v [keys, valueDim]` (row strides = their widths).
    /// `adjust` (optional) edits one row of this segment's scaled logits before exponentiation.
    public static func segment(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, queries: Int, keys: Int, dim: Int,
        valueDim: Int, scale: Float, useAVX512: Bool = CPUFeatures.hasAVX512,
        adjustingLogits adjust: ((UnsafeMutablePointer<Float>) -> Void)? = nil
    ) -> AttentionSegment {
        precondition(keys > 0, "an attention segment needs at least one key")
        var rowMax = [Float](repeating: 0, count: queries), rowSum = rowMax
        var weighted = [Float](repeating: 0, count: queries * valueDim)
        rowMax.withUnsafeMutableBufferPointer { m in rowSum.withUnsafeMutableBufferPointer { s in
            weighted.withUnsafeMutableBufferPointer { w in
                run(q: q, ldq: dim, k: k, ldk: dim, v: v, ldv: valueDim, queries: queries, keys: keys, heads: 1, headDim: dim,
                    valueDim: valueDim, scale: scale,
                    epilogue: .segment(rowMax: m.baseAddress!, rowSum: s.baseAddress!, weighted: w.baseAddress!),
                    useAVX512: useAVX512, adjustingLogits: adjust)
            }
        }}
        return AttentionSegment(queries: queries, valueDim: valueDim, rowMax: rowMax, rowSum: rowSum, weighted: weighted)
    }
}

/// One segment of keys' share of a single-head softmax attention, before normalisation. Per query
/// row r: `rowMax[r]`, the row's largest (scaled, adjusted) logit; `rowSum[r] = Σ_j exp(l_rj − rowMax[r])`;
/// `weighted[r] = Σ_j exp(l_rj − rowMax[r])·v_j`. Segments over disjoint sets of keys combine into
/// the attention over their union by rescaling to the larger maximum (flash attention's merge), so
/// the share of keys that does not change can be computed once and kept.
public struct AttentionSegment: Sendable, Equatable {
    public let queries: Int
    public let valueDim: Int
    public var rowMax: [Float]
    public var rowSum: [Float]
    /// `[queries, valueDim]`, row-major.
    public var weighted: [Float]

    public init(queries: Int, valueDim: Int, rowMax: [Float], rowSum: [Float], weighted: [Float]) {
        precondition(rowMax.count == queries && rowSum.count == queries && weighted.count == queries * valueDim,
                     "attention segment of \(queries) rows × \(valueDim): got \(rowMax.count), \(rowSum.count), \(weighted.count) values")
        self.queries = queries
        self.valueDim = valueDim
        self.rowMax = rowMax
        self.rowSum = rowSum
        self.weighted = weighted
    }

    /// The attention over the keys of all `segments` (same queries and value width), `[queries, valueDim]`:
    /// per row, `Σ_s weighted_s·e^(m_s − m) / Σ_s rowSum_s·e^(m_s − m)` with `m` the largest `m_s`.
    /// Segments are added in the order given, so the result does not depend on threads.
    public static func combined(_ segments: [AttentionSegment]) -> Tensor {
        precondition(!segments.isEmpty, "no attention segment to combine")
        let (n, dv) = (segments[0].queries, segments[0].valueDim)
        precondition(segments.allSatisfy { $0.queries == n && $0.valueDim == dv },
                     "attention segments disagree: \(segments.map { [$0.queries, $0.valueDim] })")
        return Tensor(shape: [n, dv]) { out in
            nonisolated(unsafe) let o = out.baseAddress!
            ComputeThreads.parallelFor(n) { r in
                var m = -Float.infinity
                for s in segments { m = max(m, s.rowMax[r]) }
                var sum: Float = 0
                let row = o + r * dv
                for c in 0..<dv { row[c] = 0 }
                for s in segments {
                    let factor = Foundation.exp(s.rowMax[r] - m)
                    sum += s.rowSum[r] * factor
                    s.weighted.withUnsafeBufferPointer { w in
                        let src = w.baseAddress! + r * dv
                        for c in 0..<dv { row[c] += src[c] * factor }
                    }
                }
                let inverse = 1 / sum
                for c in 0..<dv { row[c] *= inverse }
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
        epilogue: Epilogue, adjustingLogits adjust: ((UnsafeMutablePointer<Float>) -> Void)? = nil
    ) {
        let block = balancedBlock(queries: queries, heads: heads)
        let kStride = AVX512GEMM.packedCount(n: keys, k: headDim)
        let vStride = AVX512GEMM.packedCount(n: dv, k: keys)
        let packedK = UnsafeMutablePointer<Float>.allocate(capacity: heads * kStride)
        let packedV = UnsafeMutablePointer<Float>.allocate(capacity: heads * vStride)
        defer { packedK.deallocate(); packedV.deallocate() }
        nonisolated(unsafe) let (pq, pk, pv, kp, vp) = (q, k, v, packedK, packedV)
        nonisolated(unsafe) let epilogue = epilogue
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
                var sums = [Float](repeating: 0, count: rows), shifts = sums
                if let adjust {
                    // The adjustment sees the scaled logits, as PyTorch adds its bias after `q·kᵀ·scale`.
                    for r in 0..<rows {
                        let row = scores + r * keys
                        for j in 0..<keys { row[j] *= scale }
                        adjust(row)
                        sums[r] = VectorMath16.unnormalizedSoftmaxRow(row, count: keys, scale: 1, shift: &shifts[r])
                    }
                } else {
                    for r in 0..<rows {
                        sums[r] = VectorMath16.unnormalizedSoftmaxRow(scores + r * keys, count: keys, scale: scale, shift: &shifts[r])
                    }
                }
                attended.update(repeating: 0, count: rows * dv)
                let valuePanels = (dv + AVX512GEMM.panelWidth - 1) / AVX512GEMM.panelWidth
                AVX512GEMM.multiplyAccumulate(a: scores, lda: keys, m: rows, k: keys,
                                              packed: vp + head * vStride, n: dv, panelRange: 0..<valuePanels,
                                              c: attended, ldc: dv)
                switch epilogue {
                case .normalized(let po, let ldo):
                    for r in 0..<rows {
                        let dst = po + (row0 + r) * ldo + head * dv, src = attended + r * dv, inv = 1 / sums[r]
                        for c in 0..<dv { dst[c] = src[c] * inv }
                    }
                case .segment(let rowMax, let rowSum, let weighted):
                    for r in 0..<rows {
                        rowMax[row0 + r] = shifts[r]
                        rowSum[row0 + r] = sums[r]
                    }
                    (weighted + row0 * dv).update(from: attended, count: rows * dv)
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

import Tensor

/// Windowed multi-head attention straight from the unpartitioned packed qkv map: the fused form of
/// `window_partition` → SDPA per window → `window_unpartition` + crop (spec §2.6, §2.7).
///
/// `window_partition` only reorders tokens and `Linear` acts per token, so qkv is computed once on
/// the real `H×W` map. Each window then gathers its `w×w` key/value rows (window rows are
/// contiguous runs of tokens) into a per-worker buffer. Padding tokens are zeros after `norm1`, so
/// their k and v are exactly the qkv bias; they are filled with it and take part in every softmax
/// of their window — there is no mask (pitfall 1). Query rows whose output would be cropped are
/// not computed, and each real output row is written straight to its unpartitioned position.
///
/// All windows × heads of a block form one task list over `ComputeThreads`; each task runs its two
/// small GEMMs single-threaded (PLATFORM-NOTES: 256 separate 64×64×96 products only reach
/// 24–36 GFLOP/s, a single worker pass per window keeps them in L1/L2).
enum WindowAttention {
    struct Geometry {
        /// Real key-map size and the window (in key-map tokens).
        var height: Int, width: Int, window: Int
        /// Query map: the key map, or its 2×2 max-pooled version with half-size windows.
        var queryHeight: Int, queryWidth: Int, queryWindow: Int
        var windowRows: Int { (height + window - 1) / window }
        var windowColumns: Int { (width + window - 1) / window }
    }

    /// - `qkv [H·W, 3C]`: the packed projection `[q | k | v]`, heads head-major inside each.
    /// - `qkvBias [3C]`: the projection's bias = qkv of a zero padding token.
    /// - `query`: `nil` to use the q columns of `qkv`; else a pooled map `[Hq·Wq, C]`.
    /// - `output [Hq·Wq, C]`: attention output before `proj`, heads concatenated.
    static func run(qkv: UnsafePointer<Float>, qkvBias: UnsafePointer<Float>, query: UnsafePointer<Float>?,
                    geometry g: Geometry, channels c: Int, heads: Int, output: UnsafeMutablePointer<Float>) {
        let headDim = c / heads
        let (w, wq) = (g.window, g.queryWindow)
        let keys = w * w, maxQueries = wq * wq
        let scale = 1 / Float(headDim).squareRoot()
        let windows = g.windowRows * g.windowColumns
        nonisolated(unsafe) let (pqkv, pbias, pquery, pout) = (qkv, qkvBias, query, output)
        ComputeThreads.parallelRanges(windows) { range in
            // Per-worker scratch, reused by every window of the range.
            let packed = UnsafeMutablePointer<Float>.allocate(capacity: keys * 3 * c)
            let pooled = UnsafeMutablePointer<Float>.allocate(capacity: pquery == nil ? 0 : maxQueries * c)
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: maxQueries * keys)
            let attended = UnsafeMutablePointer<Float>.allocate(capacity: maxQueries * c)
            defer { packed.deallocate(); pooled.deallocate(); scores.deallocate(); attended.deallocate() }
            for window in range {
                let (wy, wx) = (window / g.windowColumns, window % g.windowColumns)
                // Keys and values: window row i is tokens (wy·w + i, wx·w ..< wx·w + w) of the map.
                let realColumns = min(w, g.width - wx * w)
                for i in 0..<w {
                    let y = wy * w + i
                    let dst = packed + i * w * 3 * c
                    var filled = 0
                    if y < g.height {
                        dst.update(from: pqkv + (y * g.width + wx * w) * 3 * c, count: realColumns * 3 * c)
                        filled = realColumns
                    }
                    for j in filled..<w { (dst + j * 3 * c).update(from: pbias, count: 3 * c) }
                }
                // Queries: only rows of the query window that survive the crop are computed.
                let queryRows = min(wq, g.queryHeight - wy * wq)
                let queryColumns = min(wq, g.queryWidth - wx * wq)
                let queries = queryRows * wq
                let q: UnsafePointer<Float>, ldq: Int
                if let pquery {
                    for i in 0..<queryRows {
                        let yq = wy * wq + i
                        (pooled + i * wq * c).update(from: pquery + (yq * g.queryWidth + wx * wq) * c, count: queryColumns * c)
                        // Cropped positions: any finite value; their outputs are discarded.
                        if queryColumns < wq { (pooled + (i * wq + queryColumns) * c).update(repeating: 0, count: (wq - queryColumns) * c) }
                    }
                    (q, ldq) = (UnsafePointer(pooled), c)
                } else {
                    (q, ldq) = (UnsafePointer(packed), 3 * c)
                }
                let kv = UnsafePointer(packed)
                for head in 0..<heads {
                    BLAS.sgemm(transposeB: true, m: queries, n: keys, k: headDim,
                               a: q + head * headDim, lda: ldq, b: kv + c + head * headDim, ldb: 3 * c,
                               c: scores, ldc: keys, threads: 1)
                    for r in 0..<queries { Softmax.row(scores + r * keys, count: keys, scale: scale) }
                    BLAS.sgemm(m: queries, n: headDim, k: keys, a: scores, lda: keys,
                               b: kv + 2 * c + head * headDim, ldb: 3 * c,
                               c: attended + head * headDim, ldc: c, threads: 1)
                }
                // Unpartition + crop: each real query row goes to its place in the output map.
                for i in 0..<queryRows {
                    let yq = wy * wq + i
                    (pout + (yq * g.queryWidth + wx * wq) * c).update(from: attended + i * wq * c, count: queryColumns * c)
                }
            }
        }
    }
}

import Tensor

/// Single-head `softmax(q·kᵀ/√d + bias)·v` where only one contiguous block of keys is biased,
/// by FSSAM's calibration (`transformer.py::RoPEAttention.forward`, calibrate=True, steps 12–19):
/// per query row, over the block's keys j,
/// `X = minmax_j(A) + (cos_norm[j] − 1)`, `A[j] += α·min(X, 0)`, then one softmax over all keys.
///
/// Works like `AttentionKernel.scaledDotProduct`: query rows in blocks, one GEMM per block for
/// the scores, the bias and softmax while they are in cache, one GEMM into the output. Only
/// `queryBlock × keys` scores are live per worker; the full score matrix never exists.
enum CalibratedAttentionKernel {
    static let queryBlock = 128
    /// Min-max epsilon on the range of each row's calibrated logits.
    static let rangeEpsilon: Float = 1e-7

    /// `q [queries, dim]`, `k`, `v [keys, dim]` (row strides = dim), `output [queries, dim]`.
    /// `similarityMinusOne[j]` = `cos_norm[j] − 1` for the keys of `calibratedKeys`.
    static func run(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                    queries: Int, keys: Int, dim: Int, scale: Float,
                    calibratedKeys: Range<Int>, similarityMinusOne: UnsafePointer<Float>, alpha: Float,
                    output: UnsafeMutablePointer<Float>) {
        precondition(calibratedKeys.lowerBound >= 0 && calibratedKeys.upperBound <= keys,
                     "calibrated keys \(calibratedKeys) outside 0..<\(keys)")
        let blocks = (queries + queryBlock - 1) / queryBlock
        nonisolated(unsafe) let (pq, pk, pv, po, sim) = (q, k, v, output, similarityMinusOne)
        ComputeThreads.parallelRanges(blocks) { tasks in
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: queryBlock * keys)
            defer { scores.deallocate() }
            for task in tasks {
                let row0 = task * queryBlock, rows = min(queryBlock, queries - row0)
                // alpha = 1/16 is a power of two: identical to PyTorch's `q·kᵀ / 16`.
                BLAS.sgemm(transposeB: true, m: rows, n: keys, k: dim, alpha: scale,
                           a: pq + row0 * dim, lda: dim, b: pk, ldb: dim,
                           c: scores, ldc: keys, threads: 1)
                for r in 0..<rows {
                    let row = scores + r * keys
                    calibrate(row + calibratedKeys.lowerBound, count: calibratedKeys.count,
                              similarityMinusOne: sim, alpha: alpha)
                    Softmax.row(row, count: keys)
                }
                BLAS.sgemm(m: rows, n: dim, k: keys, a: scores, lda: keys, b: pv, ldb: dim,
                           c: po + row0 * dim, ldc: dim, threads: 1)
            }
        }
    }

    /// The bias on one row's calibrated logits, in place.
    @inline(__always)
    static func calibrate(_ a: UnsafeMutablePointer<Float>, count: Int, similarityMinusOne: UnsafePointer<Float>,
                          alpha: Float) {
        var lo = a[0], hi = a[0]
        for j in 1..<count { lo = Swift.min(lo, a[j]); hi = Swift.max(hi, a[j]) }
        let range = hi - lo + rangeEpsilon
        for j in 0..<count {
            let x = (a[j] - lo) / range + similarityMinusOne[j]
            if x < 0 { a[j] += alpha * x }
        }
    }
}

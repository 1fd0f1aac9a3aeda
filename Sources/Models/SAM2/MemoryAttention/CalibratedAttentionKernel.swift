import Tensor

/// Single-head `softmax(q·kᵀ/√d + bias)·v` where only one contiguous block of keys is biased,
/// by FSSAM's calibration (`transformer.py::RoPEAttention.forward`, calibrate=True, steps 12–19):
/// per query row, over the block's keys j,
/// `X = minmax_j(A) + (cos_norm[j] − 1)`, `A[j] += α·min(X, 0)`, then one softmax over all keys.
///
/// The attention itself is `AttentionKernel.scaledDotProduct` (K and V packed once, query rows in
/// blocks, scores → bias → softmax → P·V while a block is in cache; the full score matrix never
/// exists); this type supplies the bias.
enum CalibratedAttentionKernel {
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
        nonisolated(unsafe) let sim = similarityMinusOne
        AttentionKernel.scaledDotProduct(q: q, k: k, v: v, queries: queries, keys: keys, dim: dim, scale: scale,
                                         output: output) { row in
            calibrate(row + calibratedKeys.lowerBound, count: calibratedKeys.count, similarityMinusOne: sim, alpha: alpha)
        }
    }

    /// The bias on one row's calibrated logits, in place.
    @inline(__always)
    static func calibrate(_ a: UnsafeMutablePointer<Float>, count: Int, similarityMinusOne: UnsafePointer<Float>,
                          alpha: Float) {
        RowOperations.rangeNormalizedNegativeBias(a, count: count, offsets: similarityMinusOne, alpha: alpha,
                                                  epsilon: rangeEpsilon)
    }
}

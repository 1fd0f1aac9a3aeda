import Tensor

/// One segment of FSSAM's calibrated single-head attention (`transformer.py::RoPEAttention.forward`,
/// calibrate=True, steps 12–19), where one contiguous block of the segment's keys is biased: per
/// query row, over the block's keys j, `X = minmax_j(A) + (cos_norm[j] − 1)`, `A[j] += α·min(X, 0)`.
/// The softmax over all keys happens when the segments are combined (`AttentionSegment.combined`).
///
/// The attention itself is `AttentionKernel.segment` (K and V packed once, query rows in blocks,
/// scores → bias → exponentials → P·V while a block is in cache; the full score matrix never
/// exists); this type supplies the bias.
enum CalibratedAttentionKernel {
    /// Min-max epsilon on the range of each row's calibrated logits.
    static let rangeEpsilon: Float = 1e-7

    /// The calibration of one block of a segment's keys.
    struct Bias {
        /// The biased keys, as rows of the segment.
        let keys: Range<Int>
        /// `cos_norm[j] − 1` for each of those keys.
        let similarityMinusOne: [Float]
        let alpha: Float
    }

    /// `q [queries, dim]`, `k [keys, dim]`, `v [keys, valueDim]` (row strides = their widths).
    static func segment(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                        queries: Int, keys: Int, dim: Int, valueDim: Int, scale: Float, bias: Bias?) -> AttentionSegment {
        guard let bias else {
            return AttentionKernel.segment(q: q, k: k, v: v, queries: queries, keys: keys, dim: dim, valueDim: valueDim,
                                           scale: scale)
        }
        precondition(bias.keys.lowerBound >= 0 && bias.keys.upperBound <= keys && bias.similarityMinusOne.count == bias.keys.count,
                     "calibrated keys \(bias.keys) (\(bias.similarityMinusOne.count) similarities) outside 0..<\(keys)")
        return bias.similarityMinusOne.withUnsafeBufferPointer { similarity in
            nonisolated(unsafe) let sim = similarity.baseAddress!
            let (first, count, alpha) = (bias.keys.lowerBound, bias.keys.count, bias.alpha)
            return AttentionKernel.segment(q: q, k: k, v: v, queries: queries, keys: keys, dim: dim, valueDim: valueDim,
                                           scale: scale) { row in
                calibrate(row + first, count: count, similarityMinusOne: sim, alpha: alpha)
            }
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

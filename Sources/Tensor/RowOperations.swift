import TensorAVX512

/// In-place operations on one row of values, vectorised where the CPU allows.
public enum RowOperations {
    /// `x = (a − min a) / (max a − min a + ε) + offsets`, then `a += α·x` where `x < 0`, over
    /// `count` values (FSSAM's support calibration of one row of attention logits). Both paths
    /// give the same bits.
    public static func rangeNormalizedNegativeBias(_ a: UnsafeMutablePointer<Float>, count: Int,
                                                   offsets: UnsafePointer<Float>, alpha: Float, epsilon: Float,
                                                   useAVX512: Bool = CPUFeatures.hasAVX512) {
        guard count > 0 else { return }
        if useAVX512 {
            VectorMath16.rangeNormalizedNegativeBias(a, count: count, offsets: offsets, alpha: alpha, epsilon: epsilon)
            return
        }
        var lo = a[0], hi = a[0]
        for j in 1..<count { lo = Swift.min(lo, a[j]); hi = Swift.max(hi, a[j]) }
        let range = hi - lo + epsilon
        for j in 0..<count {
            let x = (a[j] - lo) / range + offsets[j]
            if x < 0 { a[j] += alpha * x }
        }
    }
}

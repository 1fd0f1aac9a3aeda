/// Numerically stable softmax: subtract the row maximum, exponentiate, divide by the sum.
public enum Softmax {
    /// Softmax of one row in place, with the inputs first multiplied by `scale` (attention fuses
    /// its 1/√d here instead of scaling the whole score matrix in a separate pass).
    @inline(__always)
    public static func row(_ x: UnsafeMutablePointer<Float>, count: Int, scale: Float = 1) {
        let inverse = 1 / unnormalizedRow(x, count: count, scale: scale)
        let vectorEnd = count & ~7
        var i = 0
        while i < vectorEnd { x.storeVector(x.loadVector(at: i) * inverse, at: i); i += 8 }
        while i < count { x[i] *= inverse; i += 1 }
    }

    /// `exp(scale·x − max)` of one row in place, returning the row's sum; the caller divides
    /// later (attention divides the 64-wide output row instead of the 1601-wide probabilities,
    /// as flash-attention style kernels do).
    @inline(__always)
    public static func unnormalizedRow(_ x: UnsafeMutablePointer<Float>, count: Int, scale: Float) -> Float {
        var shift: Float = 0
        return unnormalizedRow(x, count: count, scale: scale, shift: &shift)
    }

    /// `unnormalizedRow`, also giving the subtracted `shift = scale·max x` (attention segments
    /// keep it to rescale their sums when they are combined).
    @inline(__always)
    public static func unnormalizedRow(_ x: UnsafeMutablePointer<Float>, count: Int, scale: Float, shift shiftOut: inout Float) -> Float {
        let vectorEnd = count & ~7
        var maxVector = SIMD8<Float>(repeating: -.infinity)
        var i = 0
        while i < vectorEnd { let v = x.loadVector(at: i); maxVector = maxVector.replacing(with: v, where: v .> maxVector); i += 8 }
        var maximum = maxVector.max()
        while i < count { maximum = Swift.max(maximum, x[i]); i += 1 }
        let shift = maximum * scale
        shiftOut = shift
        var sumVector = SIMD8<Float>(repeating: 0)
        i = 0
        while i < vectorEnd {
            let e = VectorMath.exp(x.loadVector(at: i) * scale - shift)
            x.storeVector(e, at: i)
            sumVector += e
            i += 8
        }
        var sum = sumVector.sum()
        if i < count {
            var tail = SIMD8<Float>(repeating: -.infinity)
            for j in 0..<(count - i) { tail[j] = x[i + j] * scale - shift }
            let e = VectorMath.exp(tail)
            for j in 0..<(count - i) { x[i + j] = e[j]; sum += e[j] }
        }
        return sum
    }

    /// Softmax over the last dimension of `[rows, count]`, in place, rows in parallel.
    public static func rows(_ x: UnsafeMutablePointer<Float>, rows: Int, count: Int, scale: Float = 1) {
        nonisolated(unsafe) let base = x
        ComputeThreads.parallelFor(rows) { r in row(base + r * count, count: count, scale: scale) }
    }
}

extension Tensor {
    /// Softmax over the last dimension.
    public func softmax() -> Tensor {
        var out = self
        let n = shape.last ?? 1
        out.withUnsafeMutableBufferPointer { Softmax.rows($0.baseAddress!, rows: count / max(n, 1), count: n) }
        return out
    }
}

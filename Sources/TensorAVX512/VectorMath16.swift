/// The `Tensor` module's vectorised exp / GELU on 16-lane vectors (one zmm register). Same
/// polynomials and constants as `VectorMath` (Cephes exp, A&S 7.1.26 erf), so both paths agree
/// to rounding; see `VectorMath` for why only compare-and-select and bit tricks are used.
public enum VectorMath16 {
    public typealias Vector = SIMD16<Float>

    @inline(__always)
    static func exp(_ input: Vector) -> Vector {
        let upper = Vector(repeating: 88), lower = Vector(repeating: -87.336544)
        var x = input.replacing(with: upper, where: input .> upper)
        x = x.replacing(with: lower, where: x .< lower)
        let magic = Vector(repeating: 12582912)
        let shifted = x * 1.44269504088896341 + magic
        let n = shifted - magic
        var r = x - n * 0.693359375
        r = r - n * -2.12194440e-4
        var y = Vector(repeating: 1.9875691500e-4)
        y = y * r + 1.3981999507e-3
        y = y * r + 8.3334519073e-3
        y = y * r + 4.1665795894e-2
        y = y * r + 1.6666665459e-1
        y = y * r + 5.0000001201e-1
        y = y * (r * r) + r + 1
        let exponent = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- unsafeBitCast(magic, to: SIMD16<Int32>.self)
        let scale = unsafeBitCast((exponent &+ 127) &<< 23, to: Vector.self)
        return (y * scale).replacing(with: 0, where: input .< lower)
    }

    @inline(__always)
    static func gelu(_ v: Vector) -> Vector {
        let x = v * 0.70710678118654752440
        let signBits = unsafeBitCast(x, to: SIMD16<UInt32>.self) & 0x8000_0000
        let absX = unsafeBitCast(unsafeBitCast(x, to: SIMD16<UInt32>.self) & 0x7FFF_FFFF, to: Vector.self)
        let t = 1 / (0.3275911 * absX + 1)
        var r = 1.061405429 * t + -1.453152027
        r = r * t + 1.421413741
        r = r * t + -0.284496736
        r = r * t + 0.254829592
        let e = exp(-(x * x))
        let magnitude = (-e * r) * t + 1
        let erf = unsafeBitCast(unsafeBitCast(magnitude, to: SIMD16<UInt32>.self) | signBits, to: Vector.self)
        return v * 0.5 * (1 + erf)
    }

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> Vector { UnsafeRawPointer(p).loadUnaligned(as: Vector.self) }
    @inline(__always)
    static func store(_ v: Vector, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vector.self) }

    /// `exp(scale·x − shift)` of a row in place with `shift = scale·max x` (written to `shift`);
    /// returns the row's sum.
    @inline(never)
    public static func unnormalizedSoftmaxRow(_ x: UnsafeMutablePointer<Float>, count: Int, scale: Float,
                                              shift shiftOut: inout Float) -> Float {
        let vectorEnd = count & ~15
        var maxVector = Vector(repeating: -.infinity)
        var i = 0
        while i < vectorEnd { let v = load(x + i); maxVector = maxVector.replacing(with: v, where: v .> maxVector); i += 16 }
        var maximum = maxVector.max()
        while i < count { maximum = Swift.max(maximum, x[i]); i += 1 }
        let shift = maximum * scale
        shiftOut = shift
        var sumVector = Vector(repeating: 0)
        i = 0
        while i < vectorEnd {
            let e = exp(load(x + i) * scale - shift)
            store(e, x + i)
            sumVector += e
            i += 16
        }
        var sum = sumVector.sum()
        if i < count {
            var tail = Vector(repeating: -.infinity)
            for j in 0..<(count - i) { tail[j] = x[i + j] * scale - shift }
            let e = exp(tail)
            for j in 0..<(count - i) { x[i + j] = e[j]; sum += e[j] }
        }
        return sum
    }

    /// `x = (a − min a) / (max a − min a + ε) + offsets`, then `a += α·x` where `x < 0`, in place.
    /// Min and max are exact in any order and the rest is element-wise, so this is the scalar
    /// loop's result bit for bit.
    @inline(never)
    public static func rangeNormalizedNegativeBias(_ a: UnsafeMutablePointer<Float>, count: Int,
                                                   offsets: UnsafePointer<Float>, alpha: Float, epsilon: Float) {
        guard count > 0 else { return }
        let vectorEnd = count & ~15
        var lo = a[0], hi = a[0]
        if vectorEnd > 0 {
            var vlo = Vector(repeating: a[0]), vhi = vlo
            var i = 0
            while i < vectorEnd {
                let v = load(a + i)
                vlo = vlo.replacing(with: v, where: v .< vlo)
                vhi = vhi.replacing(with: v, where: v .> vhi)
                i += 16
            }
            lo = vlo.min()
            hi = vhi.max()
        }
        for j in vectorEnd..<count { lo = Swift.min(lo, a[j]); hi = Swift.max(hi, a[j]) }
        let range = hi - lo + epsilon
        let (vlo, vrange) = (Vector(repeating: lo), Vector(repeating: range))
        var i = 0
        while i < vectorEnd {
            let v = load(a + i)
            let x = (v - vlo) / vrange + load(offsets + i)
            store(v.replacing(with: v + alpha * x, where: x .< 0), a + i)
            i += 16
        }
        for j in vectorEnd..<count {
            let x = (a[j] - lo) / range + offsets[j]
            if x < 0 { a[j] += alpha * x }
        }
    }

    /// Exact-erf GELU in place.
    @inline(never)
    public static func geluInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 16 <= count { store(gelu(load(x + i)), x + i); i += 16 }
        if i < count {
            var tail = Vector(repeating: 0)
            for j in 0..<(count - i) { tail[j] = x[i + j] }
            let out = gelu(tail)
            for j in 0..<(count - i) { x[i + j] = out[j] }
        }
    }
}

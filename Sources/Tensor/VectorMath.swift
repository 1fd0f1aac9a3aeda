/// Vectorised transcendental functions on `SIMD8<Float>` (one AVX2 register).
///
/// libm's scalar `expf`/`erff` cost 5–20 ns per element, which on ViT-B's 59 M GELU inputs and
/// 31 M attention probabilities would add over a second per image. These follow the same
/// polynomial schemes PyTorch's vectorised CPU kernels use (Cephes exp; Abramowitz–Stegun 7.1.26
/// erf), so results stay within a few ulp of the reference.
public enum VectorMath {
    public typealias Vector = SIMD8<Float>

    /// e^x, ~1 ulp for x in [-87.3, 88]; exactly 0 below that (softmax's masked/underflowing
    /// terms must vanish, not become denormals); inputs above 88 are clamped (every caller
    /// passes x ≤ 0 or |x| small).
    ///
    /// Written with compare-and-select and bit tricks only: on this toolchain the generic
    /// `clamped`, `pointwiseMin/Max` and float→int SIMD conversions compile to per-lane loops
    /// (10–30× slower than the vector instructions).
    @inline(__always)
    public static func exp(_ input: Vector) -> Vector {
        let upper = Vector(repeating: 88), lower = Vector(repeating: -87.336544)
        var x = input.replacing(with: upper, where: input .> upper)
        x = x.replacing(with: lower, where: x .< lower)
        // n = round(x / ln 2) with the 1.5·2²³ trick: the sum's low mantissa bits hold n.
        let magic = Vector(repeating: 12582912)
        let shifted = x * 1.44269504088896341 + magic
        let n = shifted - magic
        // r = x − n·ln 2, with ln 2 split in two for precision (Cephes).
        var r = x - n * 0.693359375
        r = r - n * -2.12194440e-4
        var y = Vector(repeating: 1.9875691500e-4)
        y = y * r + 1.3981999507e-3
        y = y * r + 8.3334519073e-3
        y = y * r + 4.1665795894e-2
        y = y * r + 1.6666665459e-1
        y = y * r + 5.0000001201e-1
        y = y * (r * r) + r + 1
        let exponent = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self)
        let scale = unsafeBitCast((exponent &+ 127) &<< 23, to: Vector.self)
        let result = y * scale
        return result.replacing(with: 0, where: input .< lower)
    }

    /// erf(x) as PyTorch's `Vectorized<float>::erf` (A&S 7.1.26, |error| < 1.5e-7).
    @inline(__always)
    public static func erf(_ x: Vector) -> Vector {
        let signBits = unsafeBitCast(x, to: SIMD8<UInt32>.self) & 0x8000_0000
        let absX = unsafeBitCast(unsafeBitCast(x, to: SIMD8<UInt32>.self) & 0x7FFF_FFFF, to: Vector.self)
        let t = 1 / (0.3275911 * absX + 1)
        var r = 1.061405429 * t + -1.453152027
        r = r * t + 1.421413741
        r = r * t + -0.284496736
        r = r * t + 0.254829592
        let e = exp(-(x * x))
        let magnitude = (-e * r) * t + 1
        return unsafeBitCast(unsafeBitCast(magnitude, to: SIMD8<UInt32>.self) | signBits, to: Vector.self)
    }

    /// Exact (erf-based) GELU, `x·½·(1 + erf(x/√2))`, as `nn.GELU()`.
    @inline(__always)
    public static func gelu(_ x: Vector) -> Vector {
        x * 0.5 * (1 + erf(x * 0.70710678118654752440))
    }

    /// Logistic sigmoid `1/(1+e^-x)`.
    @inline(__always)
    public static func sigmoid(_ x: Vector) -> Vector {
        1 / (1 + exp(-x))
    }
}

extension UnsafeMutablePointer where Pointee == Float {
    @inline(__always) func loadVector(at offset: Int) -> SIMD8<Float> {
        UnsafeRawPointer(self + offset).loadUnaligned(as: SIMD8<Float>.self)
    }
    @inline(__always) func storeVector(_ v: SIMD8<Float>, at offset: Int) {
        UnsafeMutableRawPointer(self + offset).storeBytes(of: v, as: SIMD8<Float>.self)
    }
}

extension UnsafePointer where Pointee == Float {
    @inline(__always) func loadVector(at offset: Int) -> SIMD8<Float> {
        UnsafeRawPointer(self + offset).loadUnaligned(as: SIMD8<Float>.self)
    }
}

/// Applies an elementwise vector function over `count` floats in place; the tail goes through
/// a zero-padded vector so scalar and vector paths share one formula.
@inline(__always)
func mapInPlace(_ data: UnsafeMutablePointer<Float>, count: Int, _ f: (SIMD8<Float>) -> SIMD8<Float>) {
    var i = 0
    while i + 8 <= count {
        data.storeVector(f(data.loadVector(at: i)), at: i)
        i += 8
    }
    if i < count {
        var tail = SIMD8<Float>(repeating: 0)
        for j in 0..<(count - i) { tail[j] = data[i + j] }
        let out = f(tail)
        for j in 0..<(count - i) { data[i + j] = out[j] }
    }
}

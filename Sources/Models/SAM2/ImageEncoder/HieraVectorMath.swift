import Tensor

/// exp / erf-GELU / softmax on `SIMD8<Float>` written only with lane-wise arithmetic and bit casts,
/// so every step can be one AVX2 instruction: rounding uses the 1.5·2²³ trick instead of
/// `rounded(.down)` and float→int conversions. (On the trunk, `Activations.geluInPlace` timed at
/// ~10 ns per element on a loaded machine, more than the GEMM producing its input; with this
/// version the stage-1 MLP no longer stands out. Not re-measured in isolation.) Same schemes as
/// PyTorch's vectorised CPU kernels (Cephes exp, Abramowitz–Stegun 7.1.26 erf), so results stay
/// within a few ulp; the parity tests pass with the same margins as before.
enum HieraVectorMath {
    typealias Vector = SIMD8<Float>

    /// e^x for x ≤ 88; 0 below −87.3 (underflow, as the softmax wants).
    @inline(__always)
    static func exp(_ input: Vector) -> Vector {
        let x = input.clamped(lowerBound: Vector(repeating: -87.336544), upperBound: Vector(repeating: 88.37626))
        // n = round(x·log2 e) by the 1.5·2²³ trick: adding it leaves the integer in the low mantissa bits.
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
        let integer = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self)
        let scale = unsafeBitCast((integer &+ 127) &<< 23, to: Vector.self)
        let result = y * scale
        return result.replacing(with: 0, where: input .< -87.336544)
    }

    /// Exact-form GELU `x·½·(1 + erf(x/√2))`, erf by A&S 7.1.26 (|error| < 1.5e-7), as PyTorch.
    @inline(__always)
    static func gelu(_ x: Vector) -> Vector {
        let z = x * 0.70710678118654752440
        let a = unsafeBitCast(unsafeBitCast(z, to: SIMD8<UInt32>.self) & 0x7FFF_FFFF, to: Vector.self)
        let t = 1 / (a * 0.3275911 + 1)
        var p = t * 1.061405429 + -1.453152027
        p = p * t + 1.421413741
        p = p * t + -0.284496736
        p = p * t + 0.254829592
        let magnitude = 1 - p * t * exp(-(a * a))
        let signBits = unsafeBitCast(z, to: SIMD8<UInt32>.self) & 0x8000_0000
        let erf = unsafeBitCast(unsafeBitCast(magnitude, to: SIMD8<UInt32>.self) | signBits, to: Vector.self)
        return x * 0.5 * (1 + erf)
    }

    /// GELU in place over `count` floats (single thread; callers parallelise).
    static func geluInPlace(_ data: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 8 <= count {
            let p = UnsafeMutableRawPointer(data + i)
            p.storeBytes(of: gelu(p.loadUnaligned(as: Vector.self)), as: Vector.self)
            i += 8
        }
        if i < count {
            var tail = Vector(repeating: 0)
            for j in 0..<(count - i) { tail[j] = data[i + j] }
            let out = gelu(tail)
            for j in 0..<(count - i) { data[i + j] = out[j] }
        }
    }

    /// GELU in place over a large buffer, in parallel chunks.
    static func parallelGeluInPlace(_ data: UnsafeMutablePointer<Float>, count: Int) {
        let chunk = 1 << 14
        nonisolated(unsafe) let base = data
        ComputeThreads.parallelFor((count + chunk - 1) / chunk) { c in
            geluInPlace(base + c * chunk, count: Swift.min(chunk, count - c * chunk))
        }
    }

    /// Softmax of one row in place with the inputs first scaled (attention's 1/√d): subtract the
    /// row maximum, exponentiate, divide by the sum.
    @inline(__always)
    static func softmaxRow(_ x: UnsafeMutablePointer<Float>, count: Int, scale: Float) {
        let raw = UnsafeMutableRawPointer(x)
        let vectorEnd = count & ~7
        var maxVector = Vector(repeating: -.infinity)
        var i = 0
        while i < vectorEnd { maxVector = pointwiseMax(maxVector, raw.loadUnaligned(fromByteOffset: i * 4, as: Vector.self)); i += 8 }
        var maximum = maxVector.max()
        while i < count { maximum = Swift.max(maximum, x[i]); i += 1 }
        let shift = maximum * scale
        var sumVector = Vector(repeating: 0)
        i = 0
        while i < vectorEnd {
            let e = exp(raw.loadUnaligned(fromByteOffset: i * 4, as: Vector.self) * scale - shift)
            raw.storeBytes(of: e, toByteOffset: i * 4, as: Vector.self)
            sumVector += e
            i += 8
        }
        var sum = sumVector.sum()
        if i < count {
            var tail = Vector(repeating: -.infinity)
            for j in 0..<(count - i) { tail[j] = x[i + j] * scale - shift }
            let e = exp(tail)
            for j in 0..<(count - i) { x[i + j] = e[j]; sum += e[j] }
        }
        let inverse = 1 / sum
        i = 0
        while i < vectorEnd {
            raw.storeBytes(of: raw.loadUnaligned(fromByteOffset: i * 4, as: Vector.self) * inverse, toByteOffset: i * 4, as: Vector.self)
            i += 8
        }
        while i < count { x[i] *= inverse; i += 1 }
    }
}

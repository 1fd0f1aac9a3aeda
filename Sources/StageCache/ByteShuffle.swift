/// Byte-plane shuffling. Float data compresses poorly as is (zstd finds ~1.1×) because sign,
/// exponent and mantissa bytes interleave; putting byte k of every element together lets zstd see
/// the slowly varying exponent plane as the highly redundant stream it is.
enum ByteShuffle {
    /// `n` 4-byte elements → 4 planes of `n` bytes (plane k = byte k of each element, little-endian).
    static func shuffle4(_ src: UnsafeRawPointer, count n: Int, into dst: UnsafeMutableRawPointer) {
        var i = 0
        while i + 16 <= n {
            let v = src.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<UInt32>.self)
            dst.storeBytes(of: SIMD16<UInt8>(truncatingIfNeeded: v), toByteOffset: i, as: SIMD16<UInt8>.self)
            dst.storeBytes(of: SIMD16<UInt8>(truncatingIfNeeded: v &>> 8), toByteOffset: n + i, as: SIMD16<UInt8>.self)
            dst.storeBytes(of: SIMD16<UInt8>(truncatingIfNeeded: v &>> 16), toByteOffset: 2 * n + i, as: SIMD16<UInt8>.self)
            dst.storeBytes(of: SIMD16<UInt8>(truncatingIfNeeded: v &>> 24), toByteOffset: 3 * n + i, as: SIMD16<UInt8>.self)
            i += 16
        }
        while i < n {
            let v = src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)
            for k in 0..<4 { dst.storeBytes(of: UInt8(truncatingIfNeeded: v >> (8 * UInt32(k))), toByteOffset: k * n + i, as: UInt8.self) }
            i += 1
        }
    }

    /// Inverse of `shuffle4`.
    static func unshuffle4(_ src: UnsafeRawPointer, count n: Int, into dst: UnsafeMutableRawPointer) {
        var i = 0
        while i + 16 <= n {
            let b0 = SIMD16<UInt32>(truncatingIfNeeded: src.loadUnaligned(fromByteOffset: i, as: SIMD16<UInt8>.self))
            let b1 = SIMD16<UInt32>(truncatingIfNeeded: src.loadUnaligned(fromByteOffset: n + i, as: SIMD16<UInt8>.self))
            let b2 = SIMD16<UInt32>(truncatingIfNeeded: src.loadUnaligned(fromByteOffset: 2 * n + i, as: SIMD16<UInt8>.self))
            let b3 = SIMD16<UInt32>(truncatingIfNeeded: src.loadUnaligned(fromByteOffset: 3 * n + i, as: SIMD16<UInt8>.self))
            let v = b0 | (b1 &<< 8) | (b2 &<< 16) | (b3 &<< 24)
            dst.storeBytes(of: v, toByteOffset: 4 * i, as: SIMD16<UInt32>.self)
            i += 16
        }
        while i < n {
            var v: UInt32 = 0
            for k in 0..<4 { v |= UInt32(src.load(fromByteOffset: k * n + i, as: UInt8.self)) << (8 * UInt32(k)) }
            dst.storeBytes(of: v, toByteOffset: 4 * i, as: UInt32.self)
            i += 1
        }
    }

    /// `n` 2-byte elements → 2 planes.
    static func shuffle2(_ src: UnsafeRawPointer, count n: Int, into dst: UnsafeMutableRawPointer) {
        var i = 0
        while i + 16 <= n {
            let v = src.loadUnaligned(fromByteOffset: 2 * i, as: SIMD16<UInt16>.self)
            dst.storeBytes(of: SIMD16<UInt8>(truncatingIfNeeded: v), toByteOffset: i, as: SIMD16<UInt8>.self)
            dst.storeBytes(of: SIMD16<UInt8>(truncatingIfNeeded: v &>> 8), toByteOffset: n + i, as: SIMD16<UInt8>.self)
            i += 16
        }
        while i < n {
            let v = src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)
            dst.storeBytes(of: UInt8(truncatingIfNeeded: v), toByteOffset: i, as: UInt8.self)
            dst.storeBytes(of: UInt8(truncatingIfNeeded: v >> 8), toByteOffset: n + i, as: UInt8.self)
            i += 1
        }
    }

    static func unshuffle2(_ src: UnsafeRawPointer, count n: Int, into dst: UnsafeMutableRawPointer) {
        var i = 0
        while i + 16 <= n {
            let b0 = SIMD16<UInt16>(truncatingIfNeeded: src.loadUnaligned(fromByteOffset: i, as: SIMD16<UInt8>.self))
            let b1 = SIMD16<UInt16>(truncatingIfNeeded: src.loadUnaligned(fromByteOffset: n + i, as: SIMD16<UInt8>.self))
            dst.storeBytes(of: b0 | (b1 &<< 8), toByteOffset: 2 * i, as: SIMD16<UInt16>.self)
            i += 16
        }
        while i < n {
            let v = UInt16(src.load(fromByteOffset: i, as: UInt8.self)) | UInt16(src.load(fromByteOffset: n + i, as: UInt8.self)) << 8
            dst.storeBytes(of: v, toByteOffset: 2 * i, as: UInt16.self)
            i += 1
        }
    }

    /// Bools (one byte, 0/1) → bits, least significant bit first.
    static func packBits(_ src: UnsafeRawPointer, count n: Int, into dst: UnsafeMutableRawPointer) {
        let bytes = (n + 7) / 8
        for j in 0..<bytes {
            var b: UInt8 = 0
            let base = j * 8
            for k in 0..<min(8, n - base) where src.load(fromByteOffset: base + k, as: UInt8.self) != 0 { b |= 1 << UInt8(k) }
            dst.storeBytes(of: b, toByteOffset: j, as: UInt8.self)
        }
    }

    static func unpackBits(_ src: UnsafeRawPointer, count n: Int, into dst: UnsafeMutableRawPointer) {
        for i in 0..<n {
            let b = src.load(fromByteOffset: i >> 3, as: UInt8.self)
            dst.storeBytes(of: (b >> UInt8(i & 7)) & 1, toByteOffset: i, as: UInt8.self)
        }
    }
}

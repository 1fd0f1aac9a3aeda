import Tensor

/// Conversion of little-endian stored elements to float32.
public enum ElementConversion {
    /// Converts `bytes` (holding `out.count` elements of `dtype`) into `out`.
    public static func toFloat32(_ bytes: UnsafeRawBufferPointer, dtype: DType, into out: UnsafeMutableBufferPointer<Float>) {
        precondition(bytes.count == out.count * dtype.byteSize, "byte count does not match element count")
        let n = out.count
        switch dtype {
        case .f32:
            if n > 0 { out.baseAddress!.withMemoryRebound(to: UInt8.self, capacity: n * 4) { _ = memcpyBytes($0, bytes) } }
            #if _endian(big)
            for i in 0..<n { out[i] = Float(bitPattern: UInt32(littleEndian: out[i].bitPattern)) }
            #endif
        case .f16:
            for i in 0..<n { out[i] = Float(float16Bits: UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        case .bf16:
            for i in 0..<n { out[i] = Float(bitPattern: UInt32(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16) }
        case .f64:
            for i in 0..<n { out[i] = Float(Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))) }
        case .i64:
            for i in 0..<n { out[i] = Float(Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))) }
        case .i32:
            for i in 0..<n { out[i] = Float(Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))) }
        case .i16:
            for i in 0..<n { out[i] = Float(Int16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self))) }
        case .i8:
            for i in 0..<n { out[i] = Float(Int8(bitPattern: bytes[i])) }
        case .u8, .bool:
            for i in 0..<n { out[i] = Float(bytes[i]) }
        }
    }

    private static func memcpyBytes(_ destination: UnsafeMutablePointer<UInt8>, _ source: UnsafeRawBufferPointer) -> Int {
        UnsafeMutableRawPointer(destination).copyMemory(from: source.baseAddress!, byteCount: source.count)
        return source.count
    }
}

extension Float {
    /// IEEE half-precision bits to float32, exact (subnormals, infinities and NaN payloads kept).
    /// Written out rather than using `Float16`, which is unavailable on some platforms.
    public init(float16Bits h: UInt16) {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = Int((h >> 10) & 0x1F)
        let mantissa = UInt32(h & 0x3FF)
        if exponent == 0x1F {
            self = Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        } else if exponent != 0 {
            self = Float(bitPattern: sign | UInt32(exponent + 112) << 23 | (mantissa << 13))
        } else if mantissa == 0 {
            self = Float(bitPattern: sign)
        } else {
            // Subnormal half: value = mantissa * 2^-24, exactly representable in float32.
            let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
            self = sign != 0 ? -magnitude : magnitude
        }
    }
}

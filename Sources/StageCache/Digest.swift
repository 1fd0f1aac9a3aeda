import CCrypto

/// A SHA-256 digest. Keys, blob identities and input identities are all digests.
public struct Digest: Hashable, Comparable, Sendable, CustomStringConvertible {
    public static let byteCount = 32
    /// Big-endian halves of the 32 bytes, so the value is inline (no heap) and compares as bytes do.
    let w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64

    public init(bytes: some Collection<UInt8>) {
        precondition(bytes.count == 32, "a SHA-256 digest has 32 bytes, got \(bytes.count)")
        var w: [UInt64] = [0, 0, 0, 0]
        for (i, b) in bytes.enumerated() { w[i / 8] = (w[i / 8] << 8) | UInt64(b) }
        (w0, w1, w2, w3) = (w[0], w[1], w[2], w[3])
    }

    public init?(hex: String) {
        let utf8 = Array(hex.utf8)
        guard utf8.count == 64 else { return nil }
        var bytes = [UInt8](); bytes.reserveCapacity(32)
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            case 65...70: return c - 55
            default: return nil
            }
        }
        var i = 0
        while i < 64 {
            guard let hi = nibble(utf8[i]), let lo = nibble(utf8[i + 1]) else { return nil }
            bytes.append(hi << 4 | lo); i += 2
        }
        self.init(bytes: bytes)
    }

    public var bytes: [UInt8] {
        var out = [UInt8](); out.reserveCapacity(32)
        for w in [w0, w1, w2, w3] { for s in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: w >> UInt64(s))) } }
        return out
    }

    public var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8](); out.reserveCapacity(64)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    public var description: String { hex }
    /// First 12 hex digits: enough to tell digests apart in human output.
    public var short: String { String(hex.prefix(12)) }

    public static func < (a: Digest, b: Digest) -> Bool { (a.w0, a.w1, a.w2, a.w3) < (b.w0, b.w1, b.w2, b.w3) }

    /// SHA-256 of a byte range (OpenSSL EVP: SHA-NI where the CPU has it).
    public static func sha256(_ buffer: UnsafeRawBufferPointer) -> Digest {
        var out = [UInt8](repeating: 0, count: 32)
        let ok = out.withUnsafeMutableBufferPointer { o in
            fssam_sha256(buffer.baseAddress, buffer.count, o.baseAddress)
        }
        precondition(ok == 1, "OpenSSL SHA-256 failed")
        return Digest(bytes: out)
    }

    public static func sha256(_ bytes: [UInt8]) -> Digest {
        bytes.withUnsafeBytes { sha256($0) }
    }
}

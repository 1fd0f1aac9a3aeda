/// Little-endian append-only byte writer used by the key, record and blob header encodings.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { appendLE(v) }
    mutating func u32(_ v: UInt32) { appendLE(v) }
    mutating func u64(_ v: UInt64) { appendLE(v) }
    mutating func i64(_ v: Int64) { appendLE(UInt64(bitPattern: v)) }
    mutating func f64(_ v: Double) { appendLE(v.bitPattern) }
    mutating func raw(_ b: some Sequence<UInt8>) { bytes.append(contentsOf: b) }
    /// u32 length prefix then the bytes.
    mutating func lengthPrefixed(_ b: [UInt8]) { u32(UInt32(b.count)); raw(b) }
    mutating func string(_ s: String) { lengthPrefixed(Array(s.utf8)) }

    private mutating func appendLE<T: FixedWidthInteger>(_ v: T) {
        var le = v.littleEndian
        withUnsafeBytes(of: &le) { bytes.append(contentsOf: $0) }
    }
}

/// Thrown when decoding bytes that are shorter than, or inconsistent with, what they declare.
public struct MalformedDataError: Error, Sendable, CustomStringConvertible {
    public let what: String
    public let reason: String
    public var description: String { "malformed \(what): \(reason)" }
}

/// Bounds-checked little-endian reader: every read checks the remaining length first, so a
/// truncated or hostile input becomes an error, never an out-of-bounds access.
struct ByteReader {
    let bytes: [UInt8]
    var offset = 0
    let what: String

    init(_ bytes: [UInt8], what: String) { self.bytes = bytes; self.what = what }

    var remaining: Int { bytes.count - offset }
    var isAtEnd: Bool { offset == bytes.count }

    func fail(_ reason: String) -> MalformedDataError { MalformedDataError(what: what, reason: reason) }

    mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, n <= remaining else {
            throw fail("needs \(n) bytes at offset \(offset), only \(remaining) left")
        }
        defer { offset += n }
        return bytes[offset..<(offset + n)]
    }
    mutating func u8() throws -> UInt8 { try take(1).first! }
    mutating func u16() throws -> UInt16 { UInt16(truncatingIfNeeded: try le(2)) }
    mutating func u32() throws -> UInt32 { UInt32(truncatingIfNeeded: try le(4)) }
    mutating func u64() throws -> UInt64 { try le(8) }
    mutating func i64() throws -> Int64 { Int64(bitPattern: try le(8)) }
    mutating func f64() throws -> Double { Double(bitPattern: try le(8)) }
    mutating func lengthPrefixed() throws -> [UInt8] { Array(try take(Int(try u32()))) }
    mutating func string() throws -> String {
        let b = try lengthPrefixed()
        guard let s = String(validating: b, as: UTF8.self) else { throw fail("string is not valid UTF-8") }
        return s
    }
    mutating func digest() throws -> Digest { Digest(bytes: try take(32)) }

    private mutating func le(_ n: Int) throws -> UInt64 {
        let s = try take(n)
        var v: UInt64 = 0
        for (i, b) in s.enumerated() { v |= UInt64(b) << UInt64(8 * i) }
        return v
    }
}

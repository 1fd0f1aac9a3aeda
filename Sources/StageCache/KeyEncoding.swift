/// The canonical, versioned binary encoding of a stage key preimage.
///
/// Layout (all integers little-endian):
///   magic "FSSAMKEY" (8 bytes), format version u16 (= 1)
///   then fields, each `tag u8, length u32, payload`, in this fixed order:
///     0x01 stage name (UTF-8)
///     0x02 stage version (i64)
///     0x03 weights digest (32 bytes), or 0x04 with an empty payload when the stage has no weights
///     0x05 parameters: a map value payload (see below)
///     0x06 inputs: a sequence of (string value, digest value) pairs sorted by name UTF-8 bytes
///   Values are `tag u8, length u32, payload`:
///     0x10 int (i64), 0x11 float (IEEE-754 binary64 bits as u64), 0x12 string (UTF-8),
///     0x13 bool (one byte 0/1), 0x14 map (pairs: string value then value, sorted by key UTF-8
///     bytes), 0x15 list (values in order), 0x16 digest (32 bytes).
/// Any change to this layout must bump `formatVersion`: the golden test vectors fail otherwise.
public enum KeyEncoding {
    public static let magic: [UInt8] = Array("FSSAMKEY".utf8)
    public static let formatVersion: UInt16 = 1

    enum FieldTag: UInt8 {
        case stageName = 0x01, stageVersion = 0x02, weightsDigest = 0x03, noWeights = 0x04
        case parameters = 0x05, inputs = 0x06
    }
    enum ValueTag: UInt8 {
        case int = 0x10, float = 0x11, string = 0x12, bool = 0x13, map = 0x14, list = 0x15, digest = 0x16
    }

    /// Sorting by UTF-8 bytes (not Swift's String ordering, which is Unicode-aware) keeps the order
    /// identical to any other implementation of this encoding.
    static func sortedByUTF8(_ keys: some Collection<String>) -> [String] {
        keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }

    static func field(_ tag: FieldTag, _ payload: [UInt8], into w: inout ByteWriter) {
        w.u8(tag.rawValue); w.lengthPrefixed(payload)
    }

    static func encodeValue(_ v: ParameterValue, into w: inout ByteWriter) {
        var p = ByteWriter()
        let tag: ValueTag
        switch v {
        case .int(let x): tag = .int; p.i64(x)
        case .float(let x): tag = .float; p.u64(x.bitPattern)
        case .string(let s): tag = .string; p.raw(s.utf8)
        case .bool(let b): tag = .bool; p.u8(b ? 1 : 0)
        case .map(let m): tag = .map; encodeMap(m, into: &p)
        case .list(let l): tag = .list; for e in l { encodeValue(e, into: &p) }
        }
        w.u8(tag.rawValue); w.lengthPrefixed(p.bytes)
    }

    static func encodeMap(_ m: [String: ParameterValue], into w: inout ByteWriter) {
        for k in sortedByUTF8(m.keys) {
            encodeValue(.string(k), into: &w)
            encodeValue(m[k]!, into: &w)
        }
    }

    static func encodeDigest(_ d: Digest, into w: inout ByteWriter) {
        w.u8(ValueTag.digest.rawValue); w.lengthPrefixed(d.bytes)
    }

    // MARK: decoding (for `explain`, and to prove the encoding is unambiguous)

    static func decodeValue(_ r: inout ByteReader) throws -> ParameterValue {
        let rawTag = try r.u8()
        let payload = try r.lengthPrefixed()
        var p = ByteReader(payload, what: r.what)
        guard let tag = ValueTag(rawValue: rawTag) else { throw r.fail("unknown value tag 0x\(String(rawTag, radix: 16))") }
        let value: ParameterValue
        switch tag {
        case .int: value = .int(try p.i64())
        case .float: value = .float(Double(bitPattern: try p.u64()))
        case .string:
            guard let s = String(validating: payload, as: UTF8.self) else { throw r.fail("string value is not UTF-8") }
            return .string(s)
        case .bool:
            let b = try p.u8()
            guard b <= 1 else { throw r.fail("bool value \(b)") }
            value = .bool(b == 1)
        case .map: value = .map(try decodeMap(&p))
        case .list:
            var l: [ParameterValue] = []
            while !p.isAtEnd { l.append(try decodeValue(&p)) }
            value = .list(l)
        case .digest: throw r.fail("digest value where a parameter was expected")
        }
        guard p.isAtEnd else { throw r.fail("\(p.remaining) trailing bytes in a \(tag) value") }
        return value
    }

    static func decodeString(_ r: inout ByteReader) throws -> String {
        guard case .string(let s) = try decodeValue(&r) else { throw r.fail("expected a string value") }
        return s
    }

    static func decodeMap(_ r: inout ByteReader) throws -> [String: ParameterValue] {
        var m: [String: ParameterValue] = [:]
        var previous: [UInt8]? = nil
        while !r.isAtEnd {
            let k = try decodeString(&r)
            let kb = Array(k.utf8)
            if let p = previous, !p.lexicographicallyPrecedes(kb) { throw r.fail("map keys not strictly sorted at \"\(k)\"") }
            previous = kb
            m[k] = try decodeValue(&r)
        }
        return m
    }

    static func decodeDigest(_ r: inout ByteReader) throws -> Digest {
        guard try r.u8() == ValueTag.digest.rawValue else { throw r.fail("expected a digest value") }
        let b = try r.lengthPrefixed()
        guard b.count == 32 else { throw r.fail("digest of \(b.count) bytes") }
        return Digest(bytes: b)
    }
}

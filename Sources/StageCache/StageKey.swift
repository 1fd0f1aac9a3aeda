/// Everything that determines a stage's output bytes, and nothing else. Speed-only settings
/// (threads, batch size) are deliberately absent: they go into `SpeedMetadata` on the record.
public struct StageKey: Sendable, Hashable {
    public var stage: String
    public var version: Int64
    public var weightsDigest: Digest?
    public var parameters: [String: ParameterValue]
    /// Output digests of the inputs (not their keys): an upstream re-tune that yields the same bytes
    /// leaves this key unchanged (early cutoff).
    public var inputs: [String: Digest]

    public init(stage: String, version: Int64, weightsDigest: Digest? = nil,
                parameters: [String: ParameterValue] = [:], inputs: [String: Digest] = [:]) {
        self.stage = stage; self.version = version; self.weightsDigest = weightsDigest
        self.parameters = parameters; self.inputs = inputs
    }

    /// The canonical preimage (see `KeyEncoding`), stored with the record so a key can be explained.
    public var preimage: [UInt8] {
        var w = ByteWriter()
        w.raw(KeyEncoding.magic); w.u16(KeyEncoding.formatVersion)
        KeyEncoding.field(.stageName, Array(stage.utf8), into: &w)
        var v = ByteWriter(); v.i64(version)
        KeyEncoding.field(.stageVersion, v.bytes, into: &w)
        if let d = weightsDigest { KeyEncoding.field(.weightsDigest, d.bytes, into: &w) }
        else { KeyEncoding.field(.noWeights, [], into: &w) }
        var p = ByteWriter(); KeyEncoding.encodeMap(parameters, into: &p)
        KeyEncoding.field(.parameters, p.bytes, into: &w)
        var i = ByteWriter()
        for name in KeyEncoding.sortedByUTF8(inputs.keys) {
            KeyEncoding.encodeValue(.string(name), into: &i)
            KeyEncoding.encodeDigest(inputs[name]!, into: &i)
        }
        KeyEncoding.field(.inputs, i.bytes, into: &w)
        return w.bytes
    }

    /// SHA-256 of the preimage: the record's LMDB key.
    public var digest: Digest { Digest.sha256(preimage) }

    /// Decodes a stored preimage. Rejects unknown magic, a newer format, unknown or out-of-order
    /// fields and trailing bytes.
    public init(preimage: [UInt8]) throws {
        var r = ByteReader(preimage, what: "stage key preimage")
        guard Array(try r.take(8)) == KeyEncoding.magic else { throw r.fail("bad magic (not a fssam key)") }
        let version = try r.u16()
        guard version == KeyEncoding.formatVersion else {
            throw r.fail("key format version \(version), this build reads \(KeyEncoding.formatVersion)")
        }
        func field(_ expected: [KeyEncoding.FieldTag]) throws -> (KeyEncoding.FieldTag, ByteReader) {
            let raw = try r.u8()
            guard let tag = KeyEncoding.FieldTag(rawValue: raw), expected.contains(tag) else {
                throw r.fail("field tag 0x\(String(raw, radix: 16)) where \(expected) was expected")
            }
            return (tag, ByteReader(try r.lengthPrefixed(), what: "stage key field \(tag)"))
        }
        var (_, f) = try field([.stageName])
        guard let name = String(validating: f.bytes, as: UTF8.self) else { throw r.fail("stage name is not UTF-8") }
        (_, f) = try field([.stageVersion])
        let stageVersion = try f.i64()
        let (wTag, wf) = try field([.weightsDigest, .noWeights])
        var weights: Digest? = nil
        if wTag == .weightsDigest {
            guard wf.bytes.count == 32 else { throw r.fail("weights digest of \(wf.bytes.count) bytes") }
            weights = Digest(bytes: wf.bytes)
        }
        (_, f) = try field([.parameters])
        let params = try KeyEncoding.decodeMap(&f)
        (_, f) = try field([.inputs])
        var inputs: [String: Digest] = [:]
        while !f.isAtEnd {
            let n = try KeyEncoding.decodeString(&f)
            inputs[n] = try KeyEncoding.decodeDigest(&f)
        }
        guard r.isAtEnd else { throw r.fail("\(r.remaining) trailing bytes") }
        self.init(stage: name, version: stageVersion, weightsDigest: weights, parameters: params, inputs: inputs)
    }

    /// Human-readable rendering of the preimage (`fssam cache explain`).
    public var explanation: String {
        var lines = ["stage:    \(stage)", "version:  \(version)",
                     "weights:  \(weightsDigest?.hex ?? "(none)")", "params:"]
        if parameters.isEmpty { lines.append("  (none)") }
        for k in KeyEncoding.sortedByUTF8(parameters.keys) { lines.append("  \(k) = \(parameters[k]!)") }
        lines.append("inputs:")
        if inputs.isEmpty { lines.append("  (none)") }
        for k in KeyEncoding.sortedByUTF8(inputs.keys) { lines.append("  \(k) = \(inputs[k]!.hex)") }
        return lines.joined(separator: "\n")
    }

    /// One-line parameter summary stored on the record.
    public var parameterSummary: String {
        KeyEncoding.sortedByUTF8(parameters.keys).map { "\($0)=\(parameters[$0]!.summary)" }.joined(separator: " ")
    }
}

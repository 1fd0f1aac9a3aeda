/// Speed-only facts about how an output was computed. Recorded for people, never keyed.
public struct SpeedMetadata: Sendable, Equatable {
    public var threads: Int
    public var batchSize: Int
    public var computeSeconds: Double
    public init(threads: Int = 1, batchSize: Int = 1, computeSeconds: Double = 0) {
        self.threads = threads; self.batchSize = batchSize; self.computeSeconds = computeSeconds
    }
}

/// One named output of a record.
public struct RecordOutput: Sendable, Equatable {
    public var name: String
    public var digest: Digest
    public var kind: BlobKind
    public var rawBytes: Int
    public var storedBytes: Int
}

/// What the `records` sub-database holds for one key digest.
///
/// Encoding: magic "FSRC", version u16 (=1), key digest, stage (string), stage version i64,
/// parameter summary (string), preimage (u32-length-prefixed), output count u32 then per output
/// (name string, digest, kind u8, raw u64, stored u64), created f64, last used f64,
/// threads u32, batch size u32, compute seconds f64. Strings are u32-length-prefixed UTF-8.
public struct CacheRecord: Sendable, Equatable {
    static let magic: [UInt8] = Array("FSRC".utf8)
    static let version: UInt16 = 1

    public var key: Digest
    public var stage: String
    public var stageVersion: Int64
    public var parameterSummary: String
    public var preimage: [UInt8]
    /// Sorted by name.
    public var outputs: [RecordOutput]
    /// Seconds since 1970.
    public var createdAt: Double
    public var lastUsedAt: Double
    public var speed: SpeedMetadata

    public var rawBytes: Int { outputs.reduce(0) { $0 + $1.rawBytes } }
    public var storedBytes: Int { outputs.reduce(0) { $0 + $1.storedBytes } }
    public func output(_ name: String) -> RecordOutput? { outputs.first { $0.name == name } }
    public var stageKey: StageKey? { try? StageKey(preimage: preimage) }

    func encoded() -> [UInt8] {
        var w = ByteWriter()
        w.raw(Self.magic); w.u16(Self.version); w.raw(key.bytes)
        w.string(stage); w.i64(stageVersion); w.string(parameterSummary); w.lengthPrefixed(preimage)
        w.u32(UInt32(outputs.count))
        for o in outputs {
            w.string(o.name); w.raw(o.digest.bytes); w.u8(o.kind.rawValue); w.u64(UInt64(o.rawBytes)); w.u64(UInt64(o.storedBytes))
        }
        w.f64(createdAt); w.f64(lastUsedAt)
        w.u32(UInt32(clamping: speed.threads)); w.u32(UInt32(clamping: speed.batchSize)); w.f64(speed.computeSeconds)
        return w.bytes
    }

    init(key: Digest, stage: String, stageVersion: Int64, parameterSummary: String, preimage: [UInt8],
         outputs: [RecordOutput], createdAt: Double, lastUsedAt: Double, speed: SpeedMetadata) {
        self.key = key; self.stage = stage; self.stageVersion = stageVersion; self.parameterSummary = parameterSummary
        self.preimage = preimage; self.outputs = outputs; self.createdAt = createdAt; self.lastUsedAt = lastUsedAt
        self.speed = speed
    }

    init(decoding bytes: [UInt8]) throws {
        var r = ByteReader(bytes, what: "cache record")
        guard Array(try r.take(4)) == Self.magic else { throw r.fail("bad magic") }
        let v = try r.u16()
        guard v == Self.version else { throw r.fail("record version \(v), this build reads \(Self.version)") }
        key = try r.digest()
        stage = try r.string(); stageVersion = try r.i64(); parameterSummary = try r.string()
        preimage = try r.lengthPrefixed()
        let n = Int(try r.u32())
        guard n <= r.remaining else { throw r.fail("\(n) outputs declared in \(r.remaining) bytes") }
        outputs = []
        for _ in 0..<n {
            let name = try r.string(); let d = try r.digest()
            let rawKind = try r.u8()
            guard let kind = BlobKind(rawValue: rawKind) else { throw r.fail("unknown blob kind \(rawKind)") }
            outputs.append(RecordOutput(name: name, digest: d, kind: kind, rawBytes: Int(try r.u64()), storedBytes: Int(try r.u64())))
        }
        createdAt = try r.f64(); lastUsedAt = try r.f64()
        speed = SpeedMetadata(threads: Int(try r.u32()), batchSize: Int(try r.u32()), computeSeconds: try r.f64())
        guard r.isAtEnd else { throw r.fail("\(r.remaining) trailing bytes") }
    }
}

/// A record and its encoded blobs, ready for the writer (encoding happens in the caller's task,
/// off the writer actor, so compression runs in parallel with other work).
public struct PreparedRecord: Sendable {
    public let record: CacheRecord
    public let blobs: [EncodedBlob]
    public var key: Digest { record.key }
    /// Output digests by name: what downstream stages put in their keys.
    public var outputDigests: [String: Digest] {
        Dictionary(uniqueKeysWithValues: record.outputs.map { ($0.name, $0.digest) })
    }
}

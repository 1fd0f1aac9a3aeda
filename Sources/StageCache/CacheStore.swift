import Foundation

/// A stage output found in the cache, verified and decoded.
public struct CacheHit: Sendable {
    public let record: CacheRecord
    /// Decoded outputs by name; each matched its digest when read.
    public let outputs: [String: CacheTensor]
}

/// The stage cache: a directory holding one LMDB environment with the sub-databases
/// `records`, `blobs`, `done`, `meta` and `stats` (format in Cache/README.md).
///
/// Reads are short read transactions that verify and decode before returning; writes go through
/// the single `writer` actor. Open one `CacheStore` per directory per process, after any fork.
public final class CacheStore: Sendable {
    /// Highest on-disk format this build reads and writes.
    public static let formatVersion: UInt32 = 1

    public let directory: String
    public let options: CacheOptions
    public let writer: CacheWriter
    let environment: LMDBEnvironment
    let usage = UsageLog()

    public init(directory: String, options: CacheOptions = CacheOptions()) throws {
        environment = try LMDBEnvironment(directory: directory, initialMapSize: options.initialMapSize,
                                          maxMapSize: options.maxMapSize, extraFlags: options.durability.flags,
                                          readOnly: options.access == .readOnly)
        self.directory = environment.path
        self.options = options
        writer = CacheWriter(environment: environment, usage: usage, options: options)
        do {
            if environment.isReadOnly {
                try environment.read { txn in try Self.checkFormat(txn) }
            } else {
                try environment.write { txn in
                    if try !Self.checkFormat(txn) {
                        var w = ByteWriter(); w.u32(Self.formatVersion)
                        try txn.put(.meta, Array("format".utf8), w.bytes)
                        try txn.put(.meta, Array("created-by".utf8), Array("fssam StageCache".utf8))
                    }
                }
            }
        } catch {
            environment.close()
            throw error
        }
    }

    /// False when the cache has no format entry yet (a new cache); throws on a newer format.
    @discardableResult
    private static func checkFormat(_ txn: Transaction) throws -> Bool {
        let path = txn.environment.path
        guard let v = try txn.get(.meta, Array("format".utf8)) else { return false }
        var r = ByteReader(Array(v), what: "meta format of \(path)")
        let found = try r.u32()
        guard found <= formatVersion else {
            throw CacheError.newerFormat(path: path, found: found, supported: formatVersion)
        }
        return true
    }

    /// Closes the environment without committing pending writes (call `flush()` first).
    public func close() { environment.close() }

    /// Commits pending writes and counters, then closes.
    public func flushAndClose() async throws {
        try await writer.flush()
        environment.close()
    }

    // MARK: reading

    /// Looks a key up. A record whose blobs are missing or fail verification is reported through
    /// `options.log` (naming the blob digest and the stage) and answered as a miss, so the caller
    /// recomputes and the recomputed blob replaces the bad one. Never returns unverified data.
    /// `countsUse: false` when the caller already counted this lookup (`usedRecord`) and now reads the blobs.
    public func lookup(_ key: StageKey, countsUse: Bool = true) -> CacheHit? {
        do { return try fetch(key.digest, stage: key.stage, countsUse: countsUse) } catch {
            options.log("cache entry for stage \(key.stage) key \(key.digest.hex) treated as a miss: \(error)")
            return nil
        }
    }

    /// Like `lookup` but throws what is wrong (digest mismatch, corrupt or missing blob, LMDB error).
    /// `stage` only labels the counters and errors; nil uses the record's stage.
    public func fetch(_ key: Digest, stage: String? = nil, countsUse: Bool = true) throws -> CacheHit? {
        let codec = options.codec
        do {
            let hit: CacheHit? = try environment.read { txn in
                guard let raw = try txn.get(.records, key.bytes) else { return nil }
                let record: CacheRecord
                do { record = try CacheRecord(decoding: Array(raw)) } catch {
                    throw CacheError.corruptRecord(key: key, reason: "\(error)")
                }
                var outputs: [String: CacheTensor] = [:]
                for o in record.outputs {
                    guard let blob = try txn.get(.blobs, o.digest.bytes) else {
                        throw CacheError.missingBlob(blob: o.digest, key: key, stage: record.stage)
                    }
                    outputs[o.name] = try codec.decode(blob, expected: o.digest, stage: record.stage)
                }
                return CacheHit(record: record, outputs: outputs)
            }
            if countsUse {
                if let hit { usage.hit(stage: stage ?? hit.record.stage, key: key, at: Clock.now()) }
                else { usage.miss(stage: stage ?? "?") }
            }
            return hit
        } catch let e as CacheError {
            switch e {
            case .digestMismatch(let d, _, _), .corruptBlob(let d?, _, _), .missingBlob(let d, _, _): usage.suspect(d)
            default: break
            }
            usage.miss(stage: stage ?? e.stage ?? "?", corrupt: true)
            throw e
        }
    }

    /// The record for a key, without reading its blobs.
    public func record(_ key: Digest) throws -> CacheRecord? {
        try environment.read { txn in
            guard let raw = try txn.get(.records, key.bytes) else { return nil }
            do { return try CacheRecord(decoding: Array(raw)) } catch { throw CacheError.corruptRecord(key: key, reason: "\(error)") }
        }
    }

    /// The record for a key, counted as a hit or miss of `stage` in the statistics and, on a hit,
    /// marked used now (garbage collection evicts the least recently used): the executor's lookup
    /// when it needs only the output digests, its blobs being read later if at all.
    public func usedRecord(_ key: Digest, stage: String) throws -> CacheRecord? {
        let found = try record(key)
        if found != nil { usage.hit(stage: stage, key: key, at: Clock.now()) } else { usage.miss(stage: stage) }
        return found
    }

    /// One blob, verified and decoded (e.g. a done item's output). Nil when absent.
    public func blob(_ digest: Digest, stage: String? = nil) throws -> CacheTensor? {
        let codec = options.codec
        return try environment.read { txn in
            guard let raw = try txn.get(.blobs, digest.bytes) else { return nil }
            return try codec.decode(raw, expected: digest, stage: stage)
        }
    }

    public func containsBlob(_ digest: Digest) throws -> Bool {
        try environment.read { try $0.get(.blobs, digest.bytes) != nil }
    }

    // MARK: writing

    /// Encodes outputs into blobs and builds the record (in the caller's task, in parallel chunks).
    /// `kinds` picks a codec per output (e.g. `.float16Lossy`); lossless is the default.
    public func prepare(_ key: StageKey, outputs: [String: CacheTensor], kinds: [String: BlobKind] = [:],
                        speed: SpeedMetadata = SpeedMetadata()) throws -> PreparedRecord {
        var blobs: [EncodedBlob] = []
        var entries: [RecordOutput] = []
        for name in KeyEncoding.sortedByUTF8(outputs.keys) {
            let blob = try options.codec.encode(outputs[name]!, kind: kinds[name])
            blobs.append(blob)
            entries.append(RecordOutput(name: name, digest: blob.digest, kind: blob.kind,
                                        rawBytes: blob.rawByteCount, storedBytes: blob.storedByteCount))
        }
        let now = Clock.now()
        let preimage = key.preimage
        let record = CacheRecord(key: Digest.sha256(preimage), stage: key.stage, stageVersion: key.version,
                                 parameterSummary: key.parameterSummary, preimage: preimage, outputs: entries,
                                 createdAt: now, lastUsedAt: now, speed: speed)
        return PreparedRecord(record: record, blobs: blobs)
    }

    /// Queues a prepared record; durable at the writer's next commit (batch, timer or `flush()`).
    public func put(_ prepared: PreparedRecord) async throws {
        try await writer.enqueue([.record(prepared)])
    }

    /// Encodes and queues; returns the prepared record (its `outputDigests` feed downstream keys).
    @discardableResult
    public func store(_ key: StageKey, outputs: [String: CacheTensor], kinds: [String: BlobKind] = [:],
                      speed: SpeedMetadata = SpeedMetadata()) async throws -> PreparedRecord {
        let p = try prepare(key, outputs: outputs, kinds: kinds, speed: speed)
        try await put(p)
        return p
    }

    /// Queues an item's final outputs and its done-record as one unit: they land in the same write
    /// transaction, so the item is done exactly when its outputs are committed. `outputs` name
    /// blobs (in `records` or already stored); `files` the files delivered to the output folder.
    public func complete(run: String, item: String, records: [PreparedRecord], outputs: [String: Digest],
                         files: [String: Digest] = [:], status: DoneRecord.Status = .succeeded,
                         message: String = "") async throws {
        let done = DoneRecord(run: run, item: item, status: status, message: message, outputs: outputs, files: files)
        _ = try DoneRecord.key(run: run, item: item)
        try await writer.enqueue(records.map { .record($0) } + [.done(done)])
    }

    public func flush() async throws { try await writer.flush() }

    // MARK: completion queries

    public func isDone(run: String, item: String) throws -> Bool {
        try doneRecord(run: run, item: item) != nil
    }

    public func doneRecord(run: String, item: String) throws -> DoneRecord? {
        let key = try DoneRecord.key(run: run, item: item)
        return try environment.read { txn in
            guard let v = try txn.get(.done, key) else { return nil }
            return try DoneRecord(key: key, value: Array(v))
        }
    }

    /// Streams a run's done-records in key order, `pageSize` per short read transaction (never
    /// one long transaction over a whole run); `body` runs outside any transaction.
    public func forEachDone(run: String, pageSize: Int = 1024, _ body: (DoneRecord) throws -> Void) throws {
        let prefix = DoneRecord.runPrefix(run)
        var from = prefix
        var skipFirst = false
        while true {
            var page: [DoneRecord] = []
            var last: [UInt8]? = nil
            try environment.read { txn in
                try txn.forEach(.done, from: from) { k, v in
                    let key = Array(k)
                    guard key.starts(with: prefix) else { return false }
                    if skipFirst && key == from { return true }
                    page.append(try DoneRecord(key: key, value: Array(v)))
                    last = key
                    return page.count < pageSize
                }
            }
            for d in page { try body(d) }
            guard page.count == pageSize, let last else { return }
            from = last; skipFirst = true
        }
    }

    /// Item ids of a run that are done (convenience over `forEachDone`).
    public func doneItems(run: String) throws -> [String] {
        var items: [String] = []
        try forEachDone(run: run) { items.append($0.item) }
        return items
    }

    /// Current map size in bytes (grows on demand).
    public var mapSize: Int { environment.mapSize }
}

extension CacheStore {
    /// Record keys whose hex starts with `prefix` (at least 6 hex digits), for `explain`.
    public func recordKeys(matchingPrefix prefix: String) throws -> [Digest] {
        let p = prefix.lowercased()
        if let exact = Digest(hex: p) { return try record(exact) == nil ? [] : [exact] }
        guard p.count >= 6, p.allSatisfy(\.isHexDigit) else {
            throw CacheError.invalidArgument("\"\(prefix)\" is not a key: give 64 hex digits or a prefix of at least 6")
        }
        var matches: [Digest] = []
        try environment.scan(.records, pageSize: 4096) { k, _ in
            if k.count == 32 { let d = Digest(bytes: k); if d.hex.hasPrefix(p) { matches.append(d) } }
        }
        return matches
    }
}

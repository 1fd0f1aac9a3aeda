/// Disk cost and use of one stage.
public struct StageStatistics: Sendable, Codable, Equatable {
    public var stage: String
    public var records: Int = 0
    /// Sum over this stage's records of their outputs' decoded bytes.
    public var rawBytes: Int = 0
    /// Sum over this stage's records of their outputs' stored bytes (a blob shared by two records
    /// counts twice here; `CacheStatistics.blobStoredBytes` counts it once).
    public var storedBytes: Int = 0
    public var hits: Int = 0
    public var misses: Int = 0
    /// Blobs of this stage that failed verification when read.
    public var corrupt: Int = 0
    /// Disk cost per item of this stage.
    public var meanStoredBytesPerRecord: Double { records == 0 ? 0 : Double(storedBytes) / Double(records) }
    public var compressionRatio: Double { storedBytes == 0 ? 0 : Double(rawBytes) / Double(storedBytes) }

    enum CodingKeys: String, CodingKey { case stage, records, rawBytes, storedBytes, hits, misses, corrupt, meanStoredBytesPerRecord, compressionRatio }
    public init(stage: String) { self.stage = stage }
    public func encode(to e: Encoder) throws {
        var c = e.container(keyedBy: CodingKeys.self)
        try c.encode(stage, forKey: .stage); try c.encode(records, forKey: .records)
        try c.encode(rawBytes, forKey: .rawBytes); try c.encode(storedBytes, forKey: .storedBytes)
        try c.encode(hits, forKey: .hits); try c.encode(misses, forKey: .misses); try c.encode(corrupt, forKey: .corrupt)
        try c.encode(meanStoredBytesPerRecord, forKey: .meanStoredBytesPerRecord)
        try c.encode(compressionRatio, forKey: .compressionRatio)
    }
    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self)
        stage = try c.decode(String.self, forKey: .stage); records = try c.decode(Int.self, forKey: .records)
        rawBytes = try c.decode(Int.self, forKey: .rawBytes); storedBytes = try c.decode(Int.self, forKey: .storedBytes)
        hits = try c.decode(Int.self, forKey: .hits); misses = try c.decode(Int.self, forKey: .misses)
        corrupt = try c.decode(Int.self, forKey: .corrupt)
    }
}

/// Whole-cache figures (`fssam cache stats`).
public struct CacheStatistics: Sendable, Codable, Equatable {
    public var directory: String
    public var formatVersion: UInt32
    public var mapSize: Int
    /// Size of data.mdb on disk (LMDB reuses freed pages; `copy` compacts).
    public var fileBytes: Int
    public var records = 0
    public var blobs = 0
    public var blobStoredBytes = 0
    public var blobRawBytes = 0
    public var doneRecords = 0
    public var stages: [StageStatistics] = []
}

extension CacheStore {
    /// Per-stage records, bytes, hits and misses (counters in the `stats` sub-database plus this
    /// process's not yet flushed ones).
    public func statistics() throws -> CacheStatistics {
        try environment.checkStructure()
        var stats = CacheStatistics(directory: directory, formatVersion: Self.formatVersion,
                                    mapSize: environment.mapSize, fileBytes: environment.fileSize())
        var stages: [String: StageStatistics] = [:]
        try environment.scan(.records) { k, v in
            guard let r = try? CacheRecord(decoding: Array(v)) else { return }
            stats.records += 1
            stages[r.stage, default: StageStatistics(stage: r.stage)].records += 1
            stages[r.stage]!.rawBytes += r.rawBytes
            stages[r.stage]!.storedBytes += r.storedBytes
        }
        try environment.scan(.blobs) { _, v in
            stats.blobs += 1
            stats.blobStoredBytes += v.count
            if let h = try? BlobHeader(parsing: v) { stats.blobRawBytes += h.elementCount * h.dtype.byteWidth }
        }
        try environment.scan(.stats) { k, v in
            let stage = String(decoding: k, as: UTF8.self)
            let c = StageCounters(decoding: Array(v))
            stages[stage, default: StageStatistics(stage: stage)].hits += Int(c.hits)
            stages[stage]!.misses += Int(c.misses); stages[stage]!.corrupt += Int(c.corrupt)
        }
        for (stage, c) in usage.snapshot() {
            stages[stage, default: StageStatistics(stage: stage)].hits += c.hits
            stages[stage]!.misses += c.misses; stages[stage]!.corrupt += c.corrupt
        }
        stats.doneRecords = try environment.read { try $0.entryCount(.done) }
        stats.stages = stages.values.sorted { $0.stage < $1.stage }
        return stats
    }
}

/// What garbage collection removes.
public enum GCPolicy: Sendable {
    /// Records not used (hit or written) since this time (seconds since 1970).
    case unusedSince(Double)
    /// Least-recently-used records until the stored blob bytes fit this budget.
    case sizeBudget(Int)
}

public struct GCReport: Sendable, Codable {
    public var recordsRemoved = 0
    public var blobsRemoved = 0
    public var doneRecordsRemoved = 0
    public var blobBytesBefore = 0
    public var blobBytesAfter = 0
}

/// Mark and sweep over one write transaction (run by the single writer):
/// done-records of dropped runs go first; records are chosen by the policy; then every blob that
/// no remaining record and no remaining done-record names is deleted. Done-records therefore keep
/// their outputs alive until their run is dropped, and no record is left without its blobs.
enum GarbageCollector {
    static func collect(in txn: Transaction, policy: GCPolicy, dropRuns: [String]) throws -> GCReport {
        var report = GCReport()
        // 1. Dropped runs.
        for run in dropRuns {
            let prefix = DoneRecord.runPrefix(run)
            var keys: [[UInt8]] = []
            try txn.forEach(.done, from: prefix) { k, _ in
                guard k.starts(with: prefix) else { return false }
                keys.append(Array(k)); return true
            }
            for k in keys { try txn.delete(.done, k) }
            report.doneRecordsRemoved += keys.count
        }
        // 2. What references what.
        struct Entry { let key: [UInt8]; let lastUsed: Double; let outputs: [Digest] }
        var records: [Entry] = []
        var references: [Digest: Int] = [:]
        try txn.forEach(.records) { k, v in
            if let r = try? CacheRecord(decoding: Array(v)) {
                records.append(Entry(key: Array(k), lastUsed: r.lastUsedAt, outputs: r.outputs.map(\.digest)))
                for o in r.outputs { references[o.digest, default: 0] += 1 }
            }
            return true
        }
        var pinned = Set<Digest>()
        try txn.forEach(.done) { k, v in
            if let d = try? DoneRecord(key: Array(k), value: Array(v)) { pinned.formUnion(d.outputs.values) }
            return true
        }
        var sizes: [Digest: Int] = [:]
        try txn.forEach(.blobs) { k, v in
            if k.count == 32 { sizes[Digest(bytes: k)] = v.count }
            return true
        }
        report.blobBytesBefore = sizes.values.reduce(0, +)
        func isLive(_ d: Digest) -> Bool { (references[d] ?? 0) > 0 || pinned.contains(d) }
        var live = sizes.reduce(0) { $0 + (isLive($1.key) ? $1.value : 0) }

        // 3. Records to remove.
        var doomed: [Entry] = []
        switch policy {
        case .unusedSince(let t):
            doomed = records.filter { $0.lastUsed < t }
            for e in doomed { for d in e.outputs { references[d]! -= 1 } }
        case .sizeBudget(let budget):
            for e in records.sorted(by: { $0.lastUsed < $1.lastUsed }) where live > budget {
                doomed.append(e)
                for d in e.outputs {
                    references[d]! -= 1
                    if !isLive(d) { live -= sizes[d] ?? 0 }
                }
            }
        }
        for e in doomed { try txn.delete(.records, e.key) }
        report.recordsRemoved = doomed.count
        // 4. Sweep unreferenced blobs (including orphans left by earlier crashes or edits).
        for d in sizes.keys where !isLive(d) {
            try txn.delete(.blobs, d.bytes)
            report.blobsRemoved += 1
        }
        report.blobBytesAfter = sizes.reduce(0) { $0 + (isLive($1.key) ? $1.value : 0) }
        return report
    }
}

extension CacheWriter {
    /// Commits what is pending, then collects garbage in one write transaction.
    public func collectGarbage(_ policy: GCPolicy, dropRuns: [String] = []) async throws -> GCReport {
        try await flush()
        let environment = environmentForMaintenance
        return try await runSerially {
            try environment.write { txn in try GarbageCollector.collect(in: txn, policy: policy, dropRuns: dropRuns) }
        }
    }
}

extension CacheStore {
    public func collectGarbage(_ policy: GCPolicy, dropRuns: [String] = []) async throws -> GCReport {
        try await writer.collectGarbage(policy, dropRuns: dropRuns)
    }
}

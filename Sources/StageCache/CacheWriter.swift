import Dispatch
import Foundation

/// The single writer of a cache. Callers enqueue prepared records and done-records; the actor
/// batches them and commits every `batchItems` items or `batchMilliseconds` after the first pending
/// one, or on `flush()` (which returns once everything is durable). One batch is one LMDB write transaction, so an item's outputs and its
/// done-record always become visible together, and blobs are written before the record naming them.
public actor CacheWriter {
    enum Item: Sendable {
        case record(PreparedRecord)
        case done(DoneRecord)
    }

    private let environment: LMDBEnvironment
    private let usage: UsageLog
    private let options: CacheOptions
    /// Commits run here, one at a time and in order, so producers keep encoding while a batch is
    /// written and fsynced (the actor stays the only way in; this queue is its hands).
    private let committer = DispatchQueue(label: "fssam.stagecache.commit")
    /// Batches handed to `committer` and not finished. Bounded so memory stays bounded.
    private var outstanding = 0
    private let maxOutstanding = 2
    private var capacityWaiters: [CheckedContinuation<Void, Never>] = []
    private var pending: [Item] = []
    private var timer: Task<Void, Never>?
    private var deferredError: Error?

    init(environment: LMDBEnvironment, usage: UsageLog, options: CacheOptions) {
        self.environment = environment; self.usage = usage; self.options = options
    }

    var pendingCount: Int { pending.count }
    /// For maintenance transactions (GC) that must also go through the single writer.
    var environmentForMaintenance: LMDBEnvironment { environment }

    func enqueue(_ items: [Item]) async throws {
        if let e = deferredError { deferredError = nil; throw e }
        pending.append(contentsOf: items)
        if pending.count >= options.batchItems {
            await submitPending()
        } else if timer == nil {
            let delay = UInt64(max(options.batchMilliseconds, 0)) * 1_000_000
            timer = Task { [weak self] in
                try? await Task.sleep(nanoseconds: delay)
                await self?.timerFired()
            }
        }
    }

    private func timerFired() async {
        timer = nil
        await submitPending()
    }

    /// Commits everything pending, plus accumulated hit/miss counters and last-used times, and
    /// returns when it is durable.
    public func flush() async throws {
        await submitPending(evenIfEmpty: true)
        while outstanding > 0 { await withCheckedContinuation { capacityWaiters.append($0) } }
        if let e = deferredError { deferredError = nil; throw e }
    }

    /// Runs `body` on the commit queue after every batch handed over before it.
    func runSerially<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { c in committer.async { c.resume(with: Result { try body() }) } }
    }

    private func submitPending(evenIfEmpty: Bool = false) async {
        timer?.cancel(); timer = nil
        guard !pending.isEmpty || evenIfEmpty else { return }
        while outstanding >= maxOutstanding { await withCheckedContinuation { capacityWaiters.append($0) } }
        let batch = pending
        pending = []
        outstanding += 1
        let (environment, usage, options) = (self.environment, self.usage, self.options)
        committer.async {
            let result = Result { try Self.commit(batch, environment: environment, usage: usage, options: options) }
            Task { await self.finished(batch, result) }
        }
    }

    private func finished(_ batch: [Item], _ result: Result<Void, Error>) {
        outstanding -= 1
        if case .failure(let error) = result {
            options.log("commit of \(batch.count) items to \(environment.path) failed: \(error)")
            deferredError = error
            pending.insert(contentsOf: batch, at: 0)  // kept for the next attempt
        }
        let waiters = capacityWaiters
        capacityWaiters = []
        for w in waiters { w.resume() }
    }

    /// One batch = one write transaction: blobs first, then the records naming them, then
    /// done-records, counters and last-used times.
    private static func commit(_ batch: [Item], environment: LMDBEnvironment, usage: UsageLog, options: CacheOptions) throws {
        let (counts, touched) = usage.drain()
        let suspects = usage.takeSuspects()
        guard !batch.isEmpty || !counts.isEmpty || !touched.isEmpty else { usage.restoreSuspects(suspects); return }
        // A read-only cache cannot keep counters or last-used times (they would need a write), and
        // outputs cannot be stored at all.
        if environment.isReadOnly {
            usage.restoreSuspects(suspects)
            if batch.isEmpty { return }
            throw CacheError.readOnly(path: environment.path, reason: "cannot store \(batch.count) items: it was opened read-only")
        }
        let report: CommitReport
        var repaired: Set<Digest> = []
        do {
            report = try environment.write { txn -> CommitReport in
                repaired = []
                var written = 0, present = 0
                var records: [Digest] = []
                var done: [(run: String, item: String)] = []
                for item in batch {
                    switch item {
                    case .record(let p):
                        for blob in p.blobs {
                            // Content-addressed: an existing blob is identical unless it was found
                            // corrupt, in which case the recomputed bytes replace it.
                            if try txn.put(.blobs, blob.digest.bytes, blob.bytes, noOverwrite: !suspects.contains(blob.digest)) {
                                written += 1
                                if suspects.contains(blob.digest) { repaired.insert(blob.digest) }
                            } else { present += 1 }
                        }
                        try txn.put(.records, p.key.bytes, p.record.encoded())
                        records.append(p.key)
                    case .done(let d):
                        try txn.put(.done, DoneRecord.key(run: d.run, item: d.item), d.encoded())
                        done.append((d.run, d.item))
                    }
                }
                for (stage, c) in counts {
                    var stored = try txn.get(.stats, Array(stage.utf8)).map { StageCounters(decoding: Array($0)) } ?? StageCounters()
                    stored.hits += UInt64(c.hits); stored.misses += UInt64(c.misses); stored.corrupt += UInt64(c.corrupt)
                    try txn.put(.stats, Array(stage.utf8), stored.encoded())
                }
                for (key, time) in touched {
                    guard let raw = try txn.get(.records, key.bytes) else { continue }
                    var record = try CacheRecord(decoding: Array(raw))
                    if time > record.lastUsedAt {
                        record.lastUsedAt = time
                        try txn.put(.records, key.bytes, record.encoded())
                    }
                }
                return CommitReport(records: records, doneItems: done, blobsWritten: written, blobsAlreadyPresent: present)
            }
        } catch {
            usage.restore(counts, touched)
            usage.restoreSuspects(suspects)
            throw error
        }
        usage.restoreSuspects(suspects.subtracting(repaired))
        options.onCommit?(report)
    }
}

/// Per-stage counters in the `stats` sub-database: hits u64, misses u64, corrupt u64 (LE).
struct StageCounters: Sendable, Equatable {
    var hits: UInt64 = 0, misses: UInt64 = 0, corrupt: UInt64 = 0
    init() {}
    init(decoding b: [UInt8]) {
        var r = ByteReader(b, what: "stage counters")
        hits = (try? r.u64()) ?? 0; misses = (try? r.u64()) ?? 0; corrupt = (try? r.u64()) ?? 0
    }
    func encoded() -> [UInt8] { var w = ByteWriter(); w.u64(hits); w.u64(misses); w.u64(corrupt); return w.bytes }
}

import Foundation

/// Per-process hit/miss counters per stage and last-used times of hit records. Reads must not
/// write, so these accumulate in memory and the writer adds them to the `stats` and `records`
/// sub-databases at its next commit (or `flush()`).
final class UsageLog: @unchecked Sendable {
    struct Counts: Sendable, Equatable { var hits = 0, misses = 0, corrupt = 0 }
    private let lock = NSLock()
    private var counts: [String: Counts] = [:]
    private var touched: [Digest: Double] = [:]

    func hit(stage: String, key: Digest, at time: Double) {
        lock.withLock { counts[stage, default: Counts()].hits += 1; touched[key] = time }
    }
    func miss(stage: String, corrupt: Bool = false) {
        lock.withLock {
            counts[stage, default: Counts()].misses += 1
            if corrupt { counts[stage, default: Counts()].corrupt += 1 }
        }
    }

    /// Takes everything accumulated so far (handed back with `restore` if the commit fails).
    func drain() -> ([String: Counts], [Digest: Double]) {
        lock.withLock { defer { counts = [:]; touched = [:] }; return (counts, touched) }
    }
    func restore(_ c: [String: Counts], _ t: [Digest: Double]) {
        lock.withLock {
            for (s, v) in c { counts[s, default: Counts()].hits += v.hits; counts[s, default: Counts()].misses += v.misses; counts[s, default: Counts()].corrupt += v.corrupt }
            for (k, v) in t { touched[k] = max(touched[k] ?? 0, v) }
        }
    }
    private var suspects: Set<Digest> = []
    /// Blobs that failed verification: the next write of that digest overwrites instead of deduplicating.
    func suspect(_ d: Digest) { lock.withLock { _ = suspects.insert(d) } }
    func takeSuspects() -> Set<Digest> { lock.withLock { defer { suspects = [] }; return suspects } }
    func restoreSuspects(_ s: Set<Digest>) { lock.withLock { suspects.formUnion(s) } }

    func snapshot() -> [String: Counts] { lock.withLock { counts } }
}

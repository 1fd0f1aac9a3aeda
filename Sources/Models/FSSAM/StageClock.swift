import Foundation

/// Wall-clock time per named stage, in the order stages first ran (for `--timings`).
public final class StageClock: @unchecked Sendable {
    // Used from one task at a time (a forward pass is sequential); the lock only guards reads
    // from another thread (a progress view).
    private let lock = NSLock()
    private var order: [String] = []
    private var seconds: [String: Double] = [:]

    public init() {}

    /// Runs `body`, adding its duration to `stage`.
    public func measure<R>(_ stage: String, _ body: () throws -> R) rethrows -> R {
        let start = DispatchTime.now().uptimeNanoseconds
        defer {
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            lock.withLock {
                if seconds[stage] == nil { order.append(stage) }
                seconds[stage, default: 0] += elapsed
            }
        }
        return try body()
    }

    /// `(stage, seconds)` in first-run order.
    public var entries: [(stage: String, seconds: Double)] {
        lock.withLock { order.map { ($0, seconds[$0]!) } }
    }
}

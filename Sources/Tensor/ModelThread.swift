import Foundation

/// Runs model computations on a long-lived thread of their own, the caller waiting.
///
/// `fssam run` and `fssam eval` drive the model from Swift concurrency tasks, whose threads belong
/// to the cooperative pool. Measured on the 2-core CI machine (a throwaway harness, interleaved,
/// same process), DINOv2 + SAM 2 ran 3–4 % slower called from such a thread than from the main
/// thread or a plain thread (1.34–1.36 s vs 1.28–1.31 s per image); `RunBenchmark`'s per-stage
/// seconds showed the same gap between the run's encoders and the episodes' until stage
/// computations hopped here. Calls are served one at a time, in order; a call made on this
/// thread runs inline.
public enum ModelThread {
    private final class Job: @unchecked Sendable {
        /// Dropped as soon as it has run: the caller's closure must not outlive its call.
        var body: (() -> Void)?
        let done = DispatchSemaphore(value: 0)
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    private final class Worker: @unchecked Sendable {
        let condition = NSCondition()
        var jobs: [Job] = []
        var thread: Thread?

        func start() {
            let thread = Thread { [self] in
                Thread.current.threadDictionary[ModelThread.marker] = true
                while true {
                    condition.lock()
                    while jobs.isEmpty { condition.wait() }
                    let job = jobs.removeFirst()
                    condition.unlock()
                    do {
                        let body = job.body!
                        job.body = nil
                        body()
                    }
                    job.done.signal()
                }
            }
            thread.name = "fssam.model"
            thread.stackSize = 16 << 20
            self.thread = thread
            thread.start()
        }
    }

    private static let worker: Worker = {
        let w = Worker()
        w.start()
        return w
    }()

    static let marker = "fssam.model-thread"

    /// Whether the caller is the model thread (its calls run inline instead of waiting on itself).
    public static var isCurrent: Bool { Thread.current.threadDictionary[marker] as? Bool == true }

    /// `body()`, computed on the model thread.
    public static func run<T>(_ body: () throws -> T) throws -> T {
        if isCurrent { return try body() }
        return try withoutActuallyEscaping(body) { escaped in
            nonisolated(unsafe) let escaped = escaped
            nonisolated(unsafe) var result: Result<T, Error>?
            let job = Job { result = Result { try escaped() } }
            let worker = self.worker
            worker.condition.lock()
            worker.jobs.append(job)
            worker.condition.signal()
            worker.condition.unlock()
            job.done.wait()
            return try result!.get()
        }
    }
}

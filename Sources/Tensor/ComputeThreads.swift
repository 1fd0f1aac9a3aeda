import CBLAS
import Dispatch
import Foundation

/// How many threads the numeric kernels use: the width of our own parallel loops and of the GEMM.
/// Defaults to every core the process may use. Not part of any cache key: threads change speed and
/// the last bits of a reduction order, never the maths.
///
/// OpenBLAS is always kept at one thread: its idle workers busy-wait after each call, and our own
/// parallel loops (and the AVX-512 GEMM) that run next would fight those spinning threads for the
/// same cores (measured: 2x slower). All parallelism is ours; see `BLAS.sgemm`.
public enum ComputeThreads {
    private final class State: @unchecked Sendable {
        let lock = NSLock()
        var count: Int = 0
    }
    private static let state: State = {
        let s = State()
        s.count = max(1, ProcessInfo.processInfo.activeProcessorCount)
        openblas_set_num_threads(1)
        return s
    }()

    /// The thread count. Values below 1 become 1.
    public static var count: Int {
        get { state.lock.withLock { state.count } }
        set {
            let n = max(1, newValue)
            state.lock.withLock { state.count = n }
        }
    }

    /// Runs `body(i)` for `i` in `0..<iterations`, spread over `count` threads in contiguous chunks.
    /// Small loops (or a single thread) run inline, avoiding dispatch overhead.
    public static func parallelFor(_ iterations: Int, _ body: (Int) -> Void) {
        guard iterations > 0 else { return }
        let width = min(count, iterations)
        if width <= 1 {
            for i in 0..<iterations { body(i) }
            return
        }
        withoutActuallyEscaping(body) { escaped in
            // The loop joins before returning, so `body` never outlives this call; callers own
            // the data-race freedom of what each index touches.
            nonisolated(unsafe) let body = escaped
            DispatchQueue.concurrentPerform(iterations: width) { chunk in
                let start = iterations * chunk / width
                let end = iterations * (chunk + 1) / width
                for i in start..<end { body(i) }
            }
        }
    }

    /// Splits `0..<iterations` into at most `count` contiguous ranges and runs `body` once per range
    /// in parallel, so each worker can allocate its scratch space once.
    public static func parallelRanges(_ iterations: Int, _ body: (Range<Int>) -> Void) {
        guard iterations > 0 else { return }
        let width = min(count, iterations)
        if width <= 1 { body(0..<iterations); return }
        withoutActuallyEscaping(body) { escaped in
            nonisolated(unsafe) let body = escaped
            DispatchQueue.concurrentPerform(iterations: width) { chunk in
                body((iterations * chunk / width)..<(iterations * (chunk + 1) / width))
            }
        }
    }
}

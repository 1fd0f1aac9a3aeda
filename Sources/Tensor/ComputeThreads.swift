import CBLAS
import Foundation

/// How many threads model arithmetic uses: all cores by default, settable (`--threads`).
///
/// OpenBLAS is kept at one thread: its idle workers busy-wait after each call, and when our own
/// parallel loops (and the AVX-512 GEMM) run next they would be fighting spinning threads for
/// the same cores. All parallelism is ours.
public enum ComputeThreads {
    nonisolated(unsafe) private static var configured: Int = {
        openblas_set_num_threads(1)
        return ProcessInfo.processInfo.activeProcessorCount
    }()

    /// The thread count in force.
    public static var count: Int { configured }

    /// Sets the thread count (at least 1). Call before starting work, not concurrently with it.
    public static func set(_ threads: Int) {
        _ = configured
        configured = max(1, threads)
        openblas_set_num_threads(1)
    }
}

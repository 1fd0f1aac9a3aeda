import CBLAS
import TensorAVX512

/// The one entry point for single-precision matrix products: row-major
/// `C = alpha · op(A) · op(B) + beta · C`.
///
/// Large products run on our AVX-512 kernel when the CPU has it (OpenBLAS here is pinned to its
/// AVX2 kernels, at half the throughput), otherwise on OpenBLAS, split by rows over our threads
/// (OpenBLAS itself stays single-threaded, see `ComputeThreads`). Small products go straight to
/// OpenBLAS on the calling thread, where packing and thread start-up would cost more than the
/// arithmetic.
public enum BLAS {
    /// Below this many multiply-adds a product is not worth packing for or splitting across threads.
    static let smallProduct = 64 * 64 * 64

    /// `threads`: how many workers this product may use; callers already running on every core
    /// (one attention head per worker) pass 1.
    public static func sgemm(transposeA: Bool = false, transposeB: Bool = false,
                             m: Int, n: Int, k: Int, alpha: Float = 1,
                             a: UnsafePointer<Float>, lda: Int,
                             b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0,
                             c: UnsafeMutablePointer<Float>, ldc: Int,
                             threads: Int = ComputeThreads.count) {
        guard m > 0, n > 0 else { return }
        if k == 0 {
            // BLAS leaves C·beta; make the degenerate product explicit rather than rely on it.
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : c[i * ldc + j] * beta } }
            return
        }
        let large = m * n * k >= smallProduct
        if large && CPUFeatures.hasAVX512 {
            GeneralGEMM.sgemm(transA: transposeA, transB: transposeB, m: m, n: n, k: k, alpha: alpha,
                             a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, threads: threads)
        } else if large && threads > 1 && m >= 2 * 16 {
            // Row slices of C are independent: each worker runs a single-threaded OpenBLAS call.
            let slices = min(threads, m / 16)
            nonisolated(unsafe) let (pa, pc) = (a, c)
            ComputeThreads.parallelFor(slices) { slice in
                let row0 = m * slice / slices, rows = m * (slice + 1) / slices - row0
                let aSlice = transposeA ? pa + row0 : pa + row0 * lda
                cblas(transposeA: transposeA, transposeB: transposeB, m: rows, n: n, k: k, alpha: alpha,
                      a: aSlice, lda: lda, b: b, ldb: ldb, beta: beta, c: pc + row0 * ldc, ldc: ldc)
            }
        } else {
            cblas(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                  a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        }
    }

    @inline(__always)
    static func cblas(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                      a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                      beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

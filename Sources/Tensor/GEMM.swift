import CBLAS
import FastGEMM

/// The one entry point for single-precision matrix products: row-major
/// `C = alpha · op(A) · op(B) + beta · C`, `op(A)` m×k, `op(B)` k×n.
///
/// Large products run on our AVX-512 kernel when the CPU has it (OpenBLAS here is pinned to its
/// AVX2 kernels), otherwise on OpenBLAS. Small ones go to OpenBLAS single-threaded, where our
/// packing and thread start-up would cost more than the arithmetic.
public enum GEMM {
    /// Below this many multiply-adds a product is not worth packing for or splitting across threads.
    static let smallProduct = 64 * 64 * 64

    public static func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int,
                             threads: Int = ComputeThreads.count) {
        guard m > 0, n > 0 else { return }
        if CPUFeatures.hasAVX512 && m * n * k >= smallProduct {
            AVX512GEMM.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                             b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, threads: threads)
        } else {
            cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        }
    }
}

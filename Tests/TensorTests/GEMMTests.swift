import XCTest
@testable import Tensor
import TensorAVX512

/// The GEMM dispatcher and the AVX-512 kernel against a naive double-precision reference, for all
/// transpose combinations, edge-sized tiles and both alpha/beta paths.
final class GEMMTests: XCTestCase {
    private func reference(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: [Float], lda: Int,
                           b: [Float], ldb: Int, beta: Float, c: [Float], ldc: Int) -> [Float] {
        var out = c
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0
                for p in 0..<k {
                    let av = transA ? a[p * lda + i] : a[i * lda + p]
                    let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                    sum += Double(av) * Double(bv)
                }
                out[i * ldc + j] = Float(Double(alpha) * sum + Double(beta) * Double(c[i * ldc + j]))
            }
        }
        return out
    }

    private func check(m: Int, n: Int, k: Int, transA: Bool, transB: Bool, alpha: Float, beta: Float,
                       threads: Int, forceKernel: Bool, file: StaticString = #filePath, line: UInt = #line) {
        var generator = SystemRandomNumberGenerator()
        let lda = (transA ? m : k) + 3, ldb = (transB ? k : n) + 1, ldc = n + 2
        let a = (0..<((transA ? k : m) * lda)).map { _ in Float.random(in: -1...1, using: &generator) }
        let b = (0..<((transB ? n : k) * ldb)).map { _ in Float.random(in: -1...1, using: &generator) }
        let c = (0..<(m * ldc)).map { _ in Float.random(in: -1...1, using: &generator) }
        let expected = reference(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                                 b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        var got = c
        if forceKernel {
            GeneralGEMM.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b,
                             ldb: ldb, beta: beta, c: &got, ldc: ldc, threads: threads)
        } else {
            BLAS.sgemm(transposeA: transA, transposeB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b,
                       ldb: ldb, beta: beta, c: &got, ldc: ldc, threads: threads)
        }
        var worst: Float = 0
        for i in 0..<m { for j in 0..<n { worst = max(worst, abs(got[i * ldc + j] - expected[i * ldc + j])) } }
        // float32 accumulation over k terms of magnitude ≤ 1: error grows like sqrt(k)·ulp.
        XCTAssertLessThan(worst, 1e-5 * Float(max(k, 1)).squareRoot() * 4, "m\(m) n\(n) k\(k) tA\(transA) tB\(transB)",
                          file: file, line: line)
        // Padding columns between n and ldc must be untouched.
        for i in 0..<m { for j in n..<ldc { XCTAssertEqual(got[i * ldc + j], c[i * ldc + j], file: file, line: line) } }
    }

    func testDispatcherAllTransposes() {
        for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
            check(m: 70, n: 90, k: 130, transA: ta, transB: tb, alpha: 1, beta: 0, threads: 2, forceKernel: false)
            check(m: 5, n: 7, k: 3, transA: ta, transB: tb, alpha: 0.5, beta: 0.25, threads: 2, forceKernel: false)
            check(m: 70, n: 90, k: 0, transA: ta, transB: tb, alpha: 1, beta: 0.5, threads: 2, forceKernel: false)
        }
    }

    func testAVX512KernelEdgesAndBlocks() throws {
        guard CPUFeatures.hasAVX512 else {
            // Not a skip: on an AVX2-only machine the kernel must never be reached; the dispatcher test covers the path taken.
            XCTAssertFalse(CPUFeatures.hasAVX512)
            return
        }
        // Sizes straddling the 12x32 tile, the 192-row M block, the 256 K block and the 3072 N block.
        for (m, n, k) in [(1, 1, 1), (13, 31, 5), (13, 33, 257), (193, 65, 300), (30, 3100, 20)] {
            for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
                for threads in [1, 2] {
                    check(m: m, n: n, k: k, transA: ta, transB: tb, alpha: 0.75, beta: 0.5, threads: threads, forceKernel: true)
                }
            }
        }
        check(m: 20, n: 40, k: 0, transA: false, transB: false, alpha: 1, beta: 0.5, threads: 2, forceKernel: true)
    }
}

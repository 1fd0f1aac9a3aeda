import Dispatch

/// Single-precision GEMM with an AVX-512 register-blocked kernel.
///
/// Why it exists: OpenBLAS on our machines is pinned to its Haswell (AVX2) kernels
/// (`OPENBLAS_CORETYPE=Haswell`, because older builds misbehave with their own detection on new
/// AMD cores), which leaves half of an AVX-512 core's FMA throughput unused, while the PyTorch
/// peer uses AVX-512. This module is compiled with `-target-cpu skylake-avx512`, so callers must
/// check `CPUFeatures.hasAVX512` first (the `Tensor` module's `matmul` does) and fall back to
/// CBLAS otherwise.
///
/// Structure (BLIS-style): the loops over N (`nc`), K (`kc`) and M (`mc`) blocks keep a packed
/// B block in L3/L2 and a packed A block in L2; the 14x32 micro-kernel streams them from L1.
/// Packing also absorbs transposition, so all four `op(A)·op(B)` variants run the same kernel.
public enum AVX512GEMM {
    static let mr = 14
    static let nr = 32
    static let kcBlock = 384
    static let mcBlock = 196  // a multiple of mr
    static let ncBlock = 3072 // a multiple of nr

    /// `C = alpha · op(A) · op(B) + beta · C`, all row-major. `op(A)` is m×k, `op(B)` is k×n.
    /// With `transA`, `a` holds A as k×m (row stride `lda`); with `transB`, `b` holds B as n×k.
    /// `threads` workers share the packed B block and split the M blocks (and N panels when M is small).
    public static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int) {
        guard m > 0, n > 0 else { return }
        if k == 0 || alpha == 0 {
            scale(c, m: m, n: n, ldc: ldc, beta: beta)
            return
        }
        let workers = max(1, threads)
        let kcMax = min(kcBlock, k)
        let ncMax = min(ncBlock, roundUp(n, nr))
        let packedB = UnsafeMutablePointer<Float>.allocate(capacity: kcMax * ncMax)
        defer { packedB.deallocate() }
        let packedA = UnsafeMutablePointer<Float>.allocate(capacity: workers * mcBlock * kcMax)
        defer { packedA.deallocate() }
        let shared = SharedPointers(a: a, b: b, c: c, packedA: packedA, packedB: packedB)

        for jc in stride(from: 0, to: n, by: ncBlock) {
            let nc = min(ncBlock, n - jc)
            for pc in stride(from: 0, to: k, by: kcBlock) {
                let kc = min(kcBlock, k - pc)
                // beta applies once, on the first K block; later blocks accumulate.
                let blockBeta: Float = pc == 0 ? beta : 1
                let panels = (nc + nr - 1) / nr
                parallelFor(panels, workers: workers) { panel, _ in
                    packB(transB: transB, b: shared.b, ldb: ldb, row: pc, col: jc + panel * nr,
                          kc: kc, width: min(nr, nc - panel * nr), into: shared.packedB + panel * nr * kc)
                }
                let mBlocks = (m + mcBlock - 1) / mcBlock
                // Work items: (M block, N slice). With few M blocks, N is split too so both cores work.
                let nSlices = mBlocks >= workers ? 1 : min(workers, panels)
                let panelsPerSlice = (panels + nSlices - 1) / nSlices
                parallelFor(mBlocks * nSlices, workers: workers) { item, worker in
                    let mBlock = item / nSlices, slice = item % nSlices
                    let ic = mBlock * mcBlock
                    let mc = min(mcBlock, m - ic)
                    let firstPanel = slice * panelsPerSlice
                    let lastPanel = min(panels, firstPanel + panelsPerSlice)
                    guard firstPanel < lastPanel else { return }
                    // Each work item packs its own A block; with N slices that is repeated per
                    // slice, which costs mc·kc copies against mc·kc·nc/slices FMAs.
                    let myA = shared.packedA + worker * mcBlock * kcMax
                    packA(transA: transA, a: shared.a, lda: lda, row: ic, col: pc, mc: mc, kc: kc, into: myA)
                    macroKernel(mc: mc, kc: kc, panels: firstPanel..<lastPanel, nc: nc,
                                packedA: myA, packedB: shared.packedB,
                                c: shared.c + ic * ldc + jc, ldc: ldc, alpha: alpha, beta: blockBeta)
                }
            }
        }
    }

    /// Runs the micro-kernel over one packed A block and a range of packed B panels.
    static func macroKernel(mc: Int, kc: Int, panels: Range<Int>, nc: Int, packedA: UnsafePointer<Float>,
                            packedB: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int,
                            alpha: Float, beta: Float) {
        // Edge tiles are computed into a scratch tile and copied, so the kernel is always full-size.
        var scratch = [Float](repeating: 0, count: mr * nr)
        scratch.withUnsafeMutableBufferPointer { tile in
            for panel in panels {
                let col = panel * nr
                let width = min(nr, nc - col)
                let bPanel = packedB + panel * nr * kc
                var row = 0
                while row < mc {
                    let height = min(mr, mc - row)
                    let aPanel = packedA + row * kc
                    let target = c + row * ldc + col
                    if height == mr && width == nr {
                        microKernel(kc: kc, a: aPanel, b: bPanel, c: target, ldc: ldc, alpha: alpha, beta: beta)
                    } else {
                        microKernel(kc: kc, a: aPanel, b: bPanel, c: tile.baseAddress!, ldc: nr, alpha: alpha, beta: 0)
                        for r in 0..<height {
                            for j in 0..<width {
                                let value = tile[r * nr + j]
                                target[r * ldc + j] = beta == 0 ? value : value + beta * target[r * ldc + j]
                            }
                        }
                    }
                    row += mr
                }
            }
        }
    }

    /// Packs op(A)[row..<row+mc, col..<col+kc] into mr-row panels, k-major within a panel,
    /// zero-padding the last panel's missing rows.
    static func packA(transA: Bool, a: UnsafePointer<Float>, lda: Int, row: Int, col: Int, mc: Int, kc: Int,
                      into out: UnsafeMutablePointer<Float>) {
        var panelStart = 0
        while panelStart < mc {
            let height = min(mr, mc - panelStart)
            let dst = out + panelStart * kc
            if transA {
                // A is stored k×m: the mr values of one k are contiguous.
                for p in 0..<kc {
                    let src = a + (col + p) * lda + row + panelStart
                    for r in 0..<height { dst[p * mr + r] = src[r] }
                    for r in height..<mr { dst[p * mr + r] = 0 }
                }
            } else {
                for r in 0..<height {
                    let src = a + (row + panelStart + r) * lda + col
                    for p in 0..<kc { dst[p * mr + r] = src[p] }
                }
                if height < mr {
                    for p in 0..<kc { for r in height..<mr { dst[p * mr + r] = 0 } }
                }
            }
            panelStart += mr
        }
    }

    /// Packs op(B)[row..<row+kc, col..<col+width] into one nr-wide panel, k-major, zero-padded.
    static func packB(transB: Bool, b: UnsafePointer<Float>, ldb: Int, row: Int, col: Int, kc: Int, width: Int,
                      into dst: UnsafeMutablePointer<Float>) {
        if transB {
            // B is stored n×k (a PyTorch Linear weight): column j of op(B) is row j of storage.
            for j in 0..<width {
                let src = b + (col + j) * ldb + row
                for p in 0..<kc { dst[p * nr + j] = src[p] }
            }
            if width < nr { for p in 0..<kc { for j in width..<nr { dst[p * nr + j] = 0 } } }
        } else {
            for p in 0..<kc {
                let src = b + (row + p) * ldb + col
                let d = dst + p * nr
                if width == nr {
                    d.update(from: src, count: nr)
                } else {
                    d.update(from: src, count: width)
                    (d + width).update(repeating: 0, count: nr - width)
                }
            }
        }
    }

    /// The register-blocked inner kernel: an mr×32 tile of C (mr = 14) from packed panels of A
    /// (kc×mr, k-major) and B (kc×32, k-major). 28 accumulators + 2 B vectors + 1 broadcast fit
    /// the 32 AVX-512 registers. Writes `alpha·A·B + beta·C` into `c` (row stride `ldc`).
    @inline(__always)
    static func microKernel(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float) {
        var c00 = SIMD16<Float>(), c01 = SIMD16<Float>()
        var c10 = SIMD16<Float>(), c11 = SIMD16<Float>()
        var c20 = SIMD16<Float>(), c21 = SIMD16<Float>()
        var c30 = SIMD16<Float>(), c31 = SIMD16<Float>()
        var c40 = SIMD16<Float>(), c41 = SIMD16<Float>()
        var c50 = SIMD16<Float>(), c51 = SIMD16<Float>()
        var c60 = SIMD16<Float>(), c61 = SIMD16<Float>()
        var c70 = SIMD16<Float>(), c71 = SIMD16<Float>()
        var c80 = SIMD16<Float>(), c81 = SIMD16<Float>()
        var c90 = SIMD16<Float>(), c91 = SIMD16<Float>()
        var c100 = SIMD16<Float>(), c101 = SIMD16<Float>()
        var c110 = SIMD16<Float>(), c111 = SIMD16<Float>()
        var c120 = SIMD16<Float>(), c121 = SIMD16<Float>()
        var c130 = SIMD16<Float>(), c131 = SIMD16<Float>()
        var pa = a, pb = b
        for _ in 0..<kc {
            let b0 = UnsafeRawPointer(pb).loadUnaligned(as: SIMD16<Float>.self)
            let b1 = UnsafeRawPointer(pb + 16).loadUnaligned(as: SIMD16<Float>.self)
            let a0 = SIMD16<Float>(repeating: pa[0]); c00.addProduct(a0, b0); c01.addProduct(a0, b1)
            let a1 = SIMD16<Float>(repeating: pa[1]); c10.addProduct(a1, b0); c11.addProduct(a1, b1)
            let a2 = SIMD16<Float>(repeating: pa[2]); c20.addProduct(a2, b0); c21.addProduct(a2, b1)
            let a3 = SIMD16<Float>(repeating: pa[3]); c30.addProduct(a3, b0); c31.addProduct(a3, b1)
            let a4 = SIMD16<Float>(repeating: pa[4]); c40.addProduct(a4, b0); c41.addProduct(a4, b1)
            let a5 = SIMD16<Float>(repeating: pa[5]); c50.addProduct(a5, b0); c51.addProduct(a5, b1)
            let a6 = SIMD16<Float>(repeating: pa[6]); c60.addProduct(a6, b0); c61.addProduct(a6, b1)
            let a7 = SIMD16<Float>(repeating: pa[7]); c70.addProduct(a7, b0); c71.addProduct(a7, b1)
            let a8 = SIMD16<Float>(repeating: pa[8]); c80.addProduct(a8, b0); c81.addProduct(a8, b1)
            let a9 = SIMD16<Float>(repeating: pa[9]); c90.addProduct(a9, b0); c91.addProduct(a9, b1)
            let a10 = SIMD16<Float>(repeating: pa[10]); c100.addProduct(a10, b0); c101.addProduct(a10, b1)
            let a11 = SIMD16<Float>(repeating: pa[11]); c110.addProduct(a11, b0); c111.addProduct(a11, b1)
            let a12 = SIMD16<Float>(repeating: pa[12]); c120.addProduct(a12, b0); c121.addProduct(a12, b1)
            let a13 = SIMD16<Float>(repeating: pa[13]); c130.addProduct(a13, b0); c131.addProduct(a13, b1)
            pa += 14; pb += 32
        }
        let va = SIMD16<Float>(repeating: alpha)
        if beta == 0 {
            store(c00 * va, c + 0 * ldc); store(c01 * va, c + 0 * ldc + 16)
            store(c10 * va, c + 1 * ldc); store(c11 * va, c + 1 * ldc + 16)
            store(c20 * va, c + 2 * ldc); store(c21 * va, c + 2 * ldc + 16)
            store(c30 * va, c + 3 * ldc); store(c31 * va, c + 3 * ldc + 16)
            store(c40 * va, c + 4 * ldc); store(c41 * va, c + 4 * ldc + 16)
            store(c50 * va, c + 5 * ldc); store(c51 * va, c + 5 * ldc + 16)
            store(c60 * va, c + 6 * ldc); store(c61 * va, c + 6 * ldc + 16)
            store(c70 * va, c + 7 * ldc); store(c71 * va, c + 7 * ldc + 16)
            store(c80 * va, c + 8 * ldc); store(c81 * va, c + 8 * ldc + 16)
            store(c90 * va, c + 9 * ldc); store(c91 * va, c + 9 * ldc + 16)
            store(c100 * va, c + 10 * ldc); store(c101 * va, c + 10 * ldc + 16)
            store(c110 * va, c + 11 * ldc); store(c111 * va, c + 11 * ldc + 16)
            store(c120 * va, c + 12 * ldc); store(c121 * va, c + 12 * ldc + 16)
            store(c130 * va, c + 13 * ldc); store(c131 * va, c + 13 * ldc + 16)
        } else {
            let vb = SIMD16<Float>(repeating: beta)
            update(c00, c + 0 * ldc, va, vb); update(c01, c + 0 * ldc + 16, va, vb)
            update(c10, c + 1 * ldc, va, vb); update(c11, c + 1 * ldc + 16, va, vb)
            update(c20, c + 2 * ldc, va, vb); update(c21, c + 2 * ldc + 16, va, vb)
            update(c30, c + 3 * ldc, va, vb); update(c31, c + 3 * ldc + 16, va, vb)
            update(c40, c + 4 * ldc, va, vb); update(c41, c + 4 * ldc + 16, va, vb)
            update(c50, c + 5 * ldc, va, vb); update(c51, c + 5 * ldc + 16, va, vb)
            update(c60, c + 6 * ldc, va, vb); update(c61, c + 6 * ldc + 16, va, vb)
            update(c70, c + 7 * ldc, va, vb); update(c71, c + 7 * ldc + 16, va, vb)
            update(c80, c + 8 * ldc, va, vb); update(c81, c + 8 * ldc + 16, va, vb)
            update(c90, c + 9 * ldc, va, vb); update(c91, c + 9 * ldc + 16, va, vb)
            update(c100, c + 10 * ldc, va, vb); update(c101, c + 10 * ldc + 16, va, vb)
            update(c110, c + 11 * ldc, va, vb); update(c111, c + 11 * ldc + 16, va, vb)
            update(c120, c + 12 * ldc, va, vb); update(c121, c + 12 * ldc + 16, va, vb)
            update(c130, c + 13 * ldc, va, vb); update(c131, c + 13 * ldc + 16, va, vb)
        }
    }

    @inline(__always)
    static func store(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
    }

    @inline(__always)
    static func update(_ acc: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>, _ alpha: SIMD16<Float>, _ beta: SIMD16<Float>) {
        let old = UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
        store(acc * alpha + old * beta, p)
    }

    static func scale(_ c: UnsafeMutablePointer<Float>, m: Int, n: Int, ldc: Int, beta: Float) {
        for i in 0..<m {
            for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] }
        }
    }

    static func roundUp(_ value: Int, _ multiple: Int) -> Int { (value + multiple - 1) / multiple * multiple }

    /// Static round-robin schedule: worker w runs items w, w+workers, ... so each worker owns
    /// its scratch (packed A) and the result never depends on timing.
    static func parallelFor(_ count: Int, workers: Int, _ body: @Sendable (_ item: Int, _ worker: Int) -> Void) {
        let active = min(workers, count)
        if active <= 1 {
            for i in 0..<count { body(i, 0) }
        } else {
            DispatchQueue.concurrentPerform(iterations: active) { worker in
                for item in stride(from: worker, to: count, by: active) { body(item, worker) }
            }
        }
    }
}

/// Raw pointers handed to concurrent workers; each worker writes disjoint regions.
struct SharedPointers: @unchecked Sendable {
    let a: UnsafePointer<Float>
    let b: UnsafePointer<Float>
    let c: UnsafeMutablePointer<Float>
    let packedA: UnsafeMutablePointer<Float>
    let packedB: UnsafeMutablePointer<Float>
}

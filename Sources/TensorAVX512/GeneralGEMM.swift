import Dispatch

/// General single-precision GEMM on the AVX-512 micro-kernel: row-major
/// `C = alpha · op(A) · op(B) + beta · C` for any operands (activations times activations,
/// im2col columns, attention scores), where `AVX512GEMM.multiplyAccumulate` needs a weight
/// packed ahead of time.
///
/// BLIS-style blocking: for each N block (`ncBlock`) and K block (`kBlock`) one packed B block
/// is shared by all workers; each worker packs its own M block of A (scaled by alpha) into
/// 12-row tiles and runs `AVX512GEMM.kernel12x32` over it. Packing absorbs the transposes, so
/// all four `op(A)·op(B)` variants run the same kernel.
///
/// Like everything in this module it may only run after the caller's CPU check, and it avoids
/// standard-library generics (see `AVX512GEMM`).
public enum GeneralGEMM {
    static let mr = AVX512GEMM.tileRows
    static let nr = AVX512GEMM.panelWidth
    static let kcBlock = AVX512GEMM.kBlock
    static let mcBlock = 16 * AVX512GEMM.tileRows
    static let ncBlock = 96 * AVX512GEMM.panelWidth

    /// `op(A)` is m×k (`a` holds k×m when `transA`), `op(B)` is k×n (`b` holds n×k when
    /// `transB`); `threads` workers share the packed B block and split M blocks (and N panels
    /// when M is small).
    @inline(never)
    public static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int) {
        if m <= 0 || n <= 0 { return }
        // beta is applied once up front; every K block then accumulates onto C.
        if beta != 1 {
            for i in 0..<m {
                let row = c + i * ldc
                if beta == 0 { row.update(repeating: 0, count: n) } else { for j in 0..<n { row[j] *= beta } }
            }
        }
        if k == 0 || alpha == 0 { return }
        let workers = threads < 1 ? 1 : threads
        let kcMax = k < kcBlock ? k : kcBlock
        let nPadded = (n + nr - 1) / nr * nr
        let ncMax = nPadded < ncBlock ? nPadded : ncBlock
        let packedB = UnsafeMutablePointer<Float>.allocate(capacity: kcMax * ncMax)
        let packedA = UnsafeMutablePointer<Float>.allocate(capacity: workers * mcBlock * kcMax)
        let tiles = UnsafeMutablePointer<Float>.allocate(capacity: workers * mr * nr)
        defer { packedB.deallocate(); packedA.deallocate(); tiles.deallocate() }
        let shared = Operands(a: a, b: b, c: c, packedA: packedA, packedB: packedB, tiles: tiles)

        var jc = 0
        while jc < n {
            let nc = n - jc < ncBlock ? n - jc : ncBlock
            let panels = (nc + nr - 1) / nr
            var pc = 0
            while pc < k {
                let kc = k - pc < kcBlock ? k - pc : kcBlock
                let (row0, col0) = (pc, jc)
                parallelFor(panels, workers: workers) { panel, _ in
                    let width = nc - panel * nr < nr ? nc - panel * nr : nr
                    packB(transB: transB, b: shared.b, ldb: ldb, row: row0, col: col0 + panel * nr, kc: kc, width: width,
                          into: shared.packedB + panel * nr * kc)
                }
                let mBlocks = (m + mcBlock - 1) / mcBlock
                // With fewer M blocks than workers the N panels are split too, so both cores work.
                let nSlices = mBlocks >= workers ? 1 : (workers < panels ? workers : panels)
                let panelsPerSlice = (panels + nSlices - 1) / nSlices
                parallelFor(mBlocks * nSlices, workers: workers) { item, worker in
                    let ic = (item / nSlices) * mcBlock
                    let mc = m - ic < mcBlock ? m - ic : mcBlock
                    let first = (item % nSlices) * panelsPerSlice
                    let last = first + panelsPerSlice < panels ? first + panelsPerSlice : panels
                    if first >= last { return }
                    let myA = shared.packedA + worker * mcBlock * kcMax
                    packA(transA: transA, a: shared.a, lda: lda, row: ic, col: row0, mc: mc, kc: kc, alpha: alpha, into: myA)
                    macroKernel(mc: mc, kc: kc, firstPanel: first, lastPanel: last, nc: nc, packedA: myA,
                                packedB: shared.packedB, c: shared.c + ic * ldc + col0, ldc: ldc,
                                tile: shared.tiles + worker * mr * nr)
                }
                pc += kc
            }
            jc += nc
        }
    }

    /// The micro-kernel over one packed A block and a range of packed B panels; edge tiles go
    /// through a zeroed scratch tile whose valid part is added to C.
    static func macroKernel(mc: Int, kc: Int, firstPanel: Int, lastPanel: Int, nc: Int, packedA: UnsafePointer<Float>,
                            packedB: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int,
                            tile: UnsafeMutablePointer<Float>) {
        var panel = firstPanel
        while panel < lastPanel {
            let col = panel * nr
            let width = nc - col < nr ? nc - col : nr
            let bPanel = packedB + panel * nr * kc
            var row = 0
            while row < mc {
                let height = mc - row < mr ? mc - row : mr
                let aTile = packedA + row * kc
                let target = c + row * ldc + col
                if height == mr && width == nr {
                    AVX512GEMM.kernel12x32(k: kc, a: aTile, lda: kc, b: bPanel, c: target, ldc: ldc)
                } else {
                    tile.update(repeating: 0, count: mr * nr)
                    AVX512GEMM.kernel12x32(k: kc, a: aTile, lda: kc, b: bPanel, c: tile, ldc: nr)
                    for r in 0..<height {
                        for j in 0..<width { target[r * ldc + j] += tile[r * nr + j] }
                    }
                }
                row += mr
            }
            panel += 1
        }
    }

    /// Packs `alpha · op(A)[row..<row+mc, col..<col+kc]` into 12-row tiles, each row-major with
    /// row stride kc (the kernel's `lda`), zero-padding the last tile's missing rows.
    static func packA(transA: Bool, a: UnsafePointer<Float>, lda: Int, row: Int, col: Int, mc: Int, kc: Int, alpha: Float,
                      into out: UnsafeMutablePointer<Float>) {
        let tilesCount = (mc + mr - 1) / mr
        for r in 0..<(tilesCount * mr) {
            let dst = out + r * kc
            if r >= mc {
                dst.update(repeating: 0, count: kc)
            } else if transA {
                // A is stored k×m: element (row+r, col+p) is at (col+p)·lda + row + r.
                let src = a + col * lda + row + r
                for p in 0..<kc { dst[p] = alpha * src[p * lda] }
            } else {
                let src = a + (row + r) * lda + col
                if alpha == 1 { dst.update(from: src, count: kc) } else { for p in 0..<kc { dst[p] = alpha * src[p] } }
            }
        }
    }

    /// Packs `op(B)[row..<row+kc, col..<col+width]` into one 32-wide panel, k-major, zero-padded.
    static func packB(transB: Bool, b: UnsafePointer<Float>, ldb: Int, row: Int, col: Int, kc: Int, width: Int,
                      into dst: UnsafeMutablePointer<Float>) {
        if transB {
            // B is stored n×k (a PyTorch Linear weight): column j of op(B) is row j of storage.
            for j in 0..<width {
                let src = b + (col + j) * ldb + row
                for p in 0..<kc { dst[p * nr + j] = src[p] }
            }
            if width < nr { for p in 0..<kc { (dst + p * nr + width).update(repeating: 0, count: nr - width) } }
        } else {
            for p in 0..<kc {
                let d = dst + p * nr
                d.update(from: b + (row + p) * ldb + col, count: width)
                if width < nr { (d + width).update(repeating: 0, count: nr - width) }
            }
        }
    }

    /// Static round-robin schedule: worker w runs items w, w + workers, … so each worker owns its
    /// scratch (packed A, edge tile) and the result never depends on timing.
    static func parallelFor(_ count: Int, workers: Int, _ body: @Sendable (_ item: Int, _ worker: Int) -> Void) {
        let active = workers < count ? workers : count
        if active <= 1 {
            for i in 0..<count { body(i, 0) }
            return
        }
        DispatchQueue.concurrentPerform(iterations: active) { worker in
            var item = worker
            while item < count {
                body(item, worker)
                item += active
            }
        }
    }
}

/// Raw pointers handed to concurrent workers; each worker writes disjoint regions.
struct Operands: @unchecked Sendable {
    let a: UnsafePointer<Float>
    let b: UnsafePointer<Float>
    let c: UnsafeMutablePointer<Float>
    let packedA: UnsafeMutablePointer<Float>
    let packedB: UnsafeMutablePointer<Float>
    let tiles: UnsafeMutablePointer<Float>
}

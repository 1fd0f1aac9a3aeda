/// An AVX-512 single-precision GEMM for `C[M, N] (+)= A[M, K] · Wᵀ` with `W [N, K]` packed once
/// into 32-column panels (the layout of a Linear layer's weight, which never changes).
///
/// This module is compiled with `-target-cpu skylake-avx512` so `SIMD16<Float>` maps onto one
/// zmm register. Nothing here may run unless the CPU has AVX-512F (the caller, `Tensor`'s
/// `PackedLinearWeights`, checks at run time); every entry point is `@inline(never)` so no
/// AVX-512 instruction is inlined into code built for the baseline CPU.
///
/// Keep this module free of standard-library generics (Array, Dictionary, …): their
/// specialisations are emitted as shared (link-once) symbols, and the linker could hand an
/// AVX-512-compiled copy to baseline callers. `nm` on the object files should list only this
/// module's own symbols.
public enum AVX512GEMM {
    public static let panelWidth = 32
    /// Rows per micro-tile: 12 rows × 2 zmm = 24 of the 32 zmm registers as accumulators.
    public static let tileRows = 12
    /// K block so one panel slice (kBlock × 32 floats = 32 KB) stays in L1 across all row tiles.
    public static let kBlock = 256

    /// Packs `w [n, k]` (row-major) into `⌈n/32⌉` panels, each `[k][32]`, zero-padded past `n`.
    @inline(never)
    public static func pack(_ w: UnsafePointer<Float>, n: Int, k: Int, into packed: UnsafeMutablePointer<Float>) {
        let panels = (n + panelWidth - 1) / panelWidth
        for p in 0..<panels {
            let dst = packed + p * k * panelWidth
            for j in 0..<panelWidth {
                let col = p * panelWidth + j
                if col < n {
                    let src = w + col * k
                    for kk in 0..<k { dst[kk * panelWidth + j] = src[kk] }
                } else {
                    for kk in 0..<k { dst[kk * panelWidth + j] = 0 }
                }
            }
        }
    }

    /// Packs a row-major `b [k, n]` (row stride `ldb`) so that `A·b` can run as `A·Wᵀ` with
    /// `W = bᵀ`: the same panel layout as `pack`, read without a transpose.
    @inline(never)
    public static func packRows(_ b: UnsafePointer<Float>, ldb: Int, k: Int, n: Int, into packed: UnsafeMutablePointer<Float>) {
        let panels = (n + panelWidth - 1) / panelWidth
        for p in 0..<panels {
            let dst = packed + p * k * panelWidth
            let col0 = p * panelWidth, cols = min(panelWidth, n - col0)
            for kk in 0..<k {
                let src = b + kk * ldb + col0
                let row = dst + kk * panelWidth
                for j in 0..<cols { row[j] = src[j] }
                for j in cols..<panelWidth { row[j] = 0 }
            }
        }
    }

    public static func packedCount(n: Int, k: Int) -> Int { (n + panelWidth - 1) / panelWidth * panelWidth * k }

    /// `C[m, n] = A[m, k]·Wᵀ + C` for the panels `panelRange` (C must already hold the bias or 0).
    /// Callers split panels across threads; each call is single-threaded.
    @inline(never)
    public static func multiplyAccumulate(a: UnsafePointer<Float>, lda: Int, m: Int, k: Int,
                                          packed: UnsafePointer<Float>, n: Int, panelRange: Range<Int>,
                                          c: UnsafeMutablePointer<Float>, ldc: Int) {
        let ea = UnsafeMutablePointer<Float>.allocate(capacity: tileRows * kBlock)
        let ec = UnsafeMutablePointer<Float>.allocate(capacity: tileRows * panelWidth)
        defer { ea.deallocate(); ec.deallocate() }
        do {
            var k0 = 0
            while k0 < k {
                let kc = min(kBlock, k - k0)
                for p in panelRange {
                    let b = packed + p * k * panelWidth + k0 * panelWidth
                    let col0 = p * panelWidth
                    let cols = min(panelWidth, n - col0)
                    var row = 0
                    while row < m {
                        let rows = min(tileRows, m - row)
                        if rows == tileRows && cols == panelWidth {
                            kernel12x32(k: kc, a: a + row * lda + k0, lda: lda, b: b, c: c + row * ldc + col0, ldc: ldc)
                        } else {
                            // Edge tile: zero-padded copies, full kernel, copy back the valid part.
                            for r in 0..<tileRows {
                                for kk in 0..<kc { ea[r * kBlock + kk] = r < rows ? a[(row + r) * lda + k0 + kk] : 0 }
                                for j in 0..<panelWidth {
                                    ec[r * panelWidth + j] = (r < rows && j < cols) ? c[(row + r) * ldc + col0 + j] : 0
                                }
                            }
                            kernel12x32(k: kc, a: ea, lda: kBlock, b: b, c: ec, ldc: panelWidth)
                            for r in 0..<rows { for j in 0..<cols { c[(row + r) * ldc + col0 + j] = ec[r * panelWidth + j] } }
                        }
                        row += tileRows
                    }
                }
                k0 += kc
            }
        }
    }

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
    }

    @inline(__always)
    static func store(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
    }

    /// 12×32 micro-kernel: `c[12, 32] += a[12, k] · b[k, 32]` with `b` a packed panel slice.
    /// 24 zmm accumulators: per k step 2 panel loads and 12 broadcasts feed 24 FMAs, so loads
    /// never limit the two FMA pipes.
    @inline(never)
    static func kernel12x32(k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>,
                            c: UnsafeMutablePointer<Float>, ldc: Int) {
        var r0a = load(c + 0 * ldc), r0b = load(c + 0 * ldc + 16)
        var r1a = load(c + 1 * ldc), r1b = load(c + 1 * ldc + 16)
        var r2a = load(c + 2 * ldc), r2b = load(c + 2 * ldc + 16)
        var r3a = load(c + 3 * ldc), r3b = load(c + 3 * ldc + 16)
        var r4a = load(c + 4 * ldc), r4b = load(c + 4 * ldc + 16)
        var r5a = load(c + 5 * ldc), r5b = load(c + 5 * ldc + 16)
        var r6a = load(c + 6 * ldc), r6b = load(c + 6 * ldc + 16)
        var r7a = load(c + 7 * ldc), r7b = load(c + 7 * ldc + 16)
        var r8a = load(c + 8 * ldc), r8b = load(c + 8 * ldc + 16)
        var r9a = load(c + 9 * ldc), r9b = load(c + 9 * ldc + 16)
        var r10a = load(c + 10 * ldc), r10b = load(c + 10 * ldc + 16)
        var r11a = load(c + 11 * ldc), r11b = load(c + 11 * ldc + 16)
        let a0 = a + 0 * lda, a1 = a + 1 * lda, a2 = a + 2 * lda, a3 = a + 3 * lda, a4 = a + 4 * lda, a5 = a + 5 * lda, a6 = a + 6 * lda, a7 = a + 7 * lda, a8 = a + 8 * lda, a9 = a + 9 * lda, a10 = a + 10 * lda, a11 = a + 11 * lda
        var bp = b
        for kk in 0..<k {
            let b0 = load(bp), b1 = load(bp + 16)
            var x: SIMD16<Float>
            x = SIMD16<Float>(repeating: a0[kk]); r0a.addProduct(x, b0); r0b.addProduct(x, b1)
            x = SIMD16<Float>(repeating: a1[kk]); r1a.addProduct(x, b0); r1b.addProduct(x, b1)
            x = SIMD16<Float>(repeating: a2[kk]); r2a.addProduct(x, b0); r2b.addProduct(x, b1)
            x = SIMD16<Float>(repeating: a3[kk]); r3a.addProduct(x, b0); r3b.addProduct(x, b1)
            x = SIMD16<Float>(repeating: a4[kk]); r4a.addProduct(x, b0); r4b.addProduct(x, b1)
            x = SIMD16<Float>(repeating: a5[kk]); r5a.addProduct(x, b0); r5b.addProduct(x, b1)
            x = SIMD16<Float>(repeating: a6[kk]); r6a.addProduct(x, b0); r6b.addProduct(x, b1)
            x = SIMD16<Float>(repeating: a7[kk]); r7a.addProduct(x, b0); r7b.addProduct(x, b1)
            x = SIMD16<Float>(repeating: a8[kk]); r8a.addProduct(x, b0); r8b.addProduct(x, b1)
            x = SIMD16<Float>(repeating: a9[kk]); r9a.addProduct(x, b0); r9b.addProduct(x, b1)
            x = SIMD16<Float>(repeating: a10[kk]); r10a.addProduct(x, b0); r10b.addProduct(x, b1)
            x = SIMD16<Float>(repeating: a11[kk]); r11a.addProduct(x, b0); r11b.addProduct(x, b1)
            bp += 32
        }
        store(r0a, c + 0 * ldc); store(r0b, c + 0 * ldc + 16)
        store(r1a, c + 1 * ldc); store(r1b, c + 1 * ldc + 16)
        store(r2a, c + 2 * ldc); store(r2b, c + 2 * ldc + 16)
        store(r3a, c + 3 * ldc); store(r3b, c + 3 * ldc + 16)
        store(r4a, c + 4 * ldc); store(r4b, c + 4 * ldc + 16)
        store(r5a, c + 5 * ldc); store(r5b, c + 5 * ldc + 16)
        store(r6a, c + 6 * ldc); store(r6b, c + 6 * ldc + 16)
        store(r7a, c + 7 * ldc); store(r7b, c + 7 * ldc + 16)
        store(r8a, c + 8 * ldc); store(r8b, c + 8 * ldc + 16)
        store(r9a, c + 9 * ldc); store(r9b, c + 9 * ldc + 16)
        store(r10a, c + 10 * ldc); store(r10b, c + 10 * ldc + 16)
        store(r11a, c + 11 * ldc); store(r11b, c + 11 * ldc + 16)
    }
}

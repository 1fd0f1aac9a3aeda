import XCTest
import FixtureSupport
import Foundation
@testable import Tensor

/// Kernels against naive reference loops written out in the test.
final class KernelTests: XCTestCase {
    /// Deterministic values in [-1, 1) (LCG), so failures reproduce.
    func random(_ shape: [Int], seed: UInt64) -> Tensor {
        var state = seed &* 6364136223846793005 &+ 1442695040888963407
        let n = shape.reduce(1, *)
        return Tensor(shape: shape, storage: (0..<n).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2_000_000) / 1_000_000 - 1
        })
    }

    func testMatmulWithTransposesAndBatch() {
        let a = random([2, 5, 7], seed: 1), b = random([2, 7, 3], seed: 2)
        let c = Tensor.matmul(a, b)
        XCTAssertEqual(c.shape, [2, 5, 3])
        for n in 0..<2 { for i in 0..<5 { for j in 0..<3 {
            var s: Float = 0
            for k in 0..<7 { s += a[n, i, k] * b[n, k, j] }
            XCTAssertEqual(c[n, i, j], s, accuracy: 1e-5)
        }}}
        let at = random([7, 5], seed: 3), bt = random([3, 7], seed: 4)
        let ct = Tensor.matmul(at, bt, transposeA: true, transposeB: true)
        XCTAssertEqual(ct.shape, [5, 3])
        for i in 0..<5 { for j in 0..<3 {
            var s: Float = 0
            for k in 0..<7 { s += at[k, i] * bt[j, k] }
            XCTAssertEqual(ct[i, j], s, accuracy: 1e-5)
        }}
    }

    func testLinear() {
        let x = random([4, 6], seed: 5), w = random([3, 6], seed: 6), b = random([3], seed: 7)
        let y = x.linear(weight: w, bias: b)
        for r in 0..<4 { for o in 0..<3 {
            var s = b[o]
            for i in 0..<6 { s += x[r, i] * w[o, i] }
            XCTAssertEqual(y[r, o], s, accuracy: 1e-5)
        }}
    }

    func naiveConv(_ x: Tensor, _ w: Tensor, _ b: Tensor?, stride: (Int, Int), padding: (Int, Int), groups: Int) -> Tensor {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
        let ho = (h + 2 * padding.0 - kh) / stride.0 + 1, wo = (wd + 2 * padding.1 - kw) / stride.1 + 1
        var out = Tensor(shape: [n, o, ho, wo])
        let og = o / groups
        for img in 0..<n { for oc in 0..<o { for oy in 0..<ho { for ox in 0..<wo {
            var s = b?[oc] ?? 0
            let g = oc / og
            for ic in 0..<cg { for ky in 0..<kh { for kx in 0..<kw {
                let iy = oy * stride.0 - padding.0 + ky, ix = ox * stride.1 - padding.1 + kx
                if iy >= 0 && iy < h && ix >= 0 && ix < wd { s += x[img, g * cg + ic, iy, ix] * w[oc, ic, ky, kx] }
            }}}
            out[img, oc, oy, ox] = s
        }}}}
        _ = c
        return out
    }

    func testConvolutionVariants() {
        let x = random([2, 4, 9, 11], seed: 8)
        let cases: [(w: [Int], stride: (Int, Int), padding: (Int, Int), groups: Int, bias: Bool)] = [
            ([6, 4, 3, 3], (1, 1), (1, 1), 1, true),     // same-size 3x3
            ([5, 4, 3, 2], (2, 3), (0, 1), 1, false),    // strided, asymmetric
            ([4, 1, 7, 7], (1, 1), (3, 3), 4, true),     // depthwise 7x7
            ([6, 2, 1, 1], (1, 1), (0, 0), 2, true),     // grouped 1x1
            ([3, 4, 3, 3], (3, 3), (0, 0), 1, true),     // patch-embed style (kernel = stride)
        ]
        for (i, cs) in cases.enumerated() {
            let w = random(cs.w, seed: 20 + UInt64(i))
            let b = cs.bias ? random([cs.w[0]], seed: 40 + UInt64(i)) : nil
            let y = x.conv2d(weight: w, bias: b, stride: cs.stride, padding: cs.padding, groups: cs.groups)
            let ref = naiveConv(x, w, b, stride: cs.stride, padding: cs.padding, groups: cs.groups)
            XCTAssertEqual(y.shape, ref.shape, "case \(i)")
            XCTAssertLessThan(deviation(y.storage, ref.storage).maxAbs, 1e-5, "conv case \(i)")
        }
    }

    func testLayerNorms() {
        let x = random([3, 10], seed: 9), w = random([10], seed: 10), b = random([10], seed: 11)
        let y = x.layerNorm(weight: w, bias: b, eps: 1e-6)
        for r in 0..<3 {
            let row = (0..<10).map { Double(x[r, $0]) }
            let mean = row.reduce(0, +) / 10
            let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 10
            for j in 0..<10 {
                let ref = (row[j] - mean) / (variance + 1e-6).squareRoot() * Double(w[j]) + Double(b[j])
                XCTAssertEqual(Double(y[r, j]), ref, accuracy: 1e-5)
            }
        }
        let m = random([2, 5, 3, 4], seed: 12), w2 = random([5], seed: 13), b2 = random([5], seed: 14)
        let y2 = m.layerNorm2d(weight: w2, bias: b2, eps: 1e-6)
        for n in 0..<2 { for p in 0..<3 { for q in 0..<4 {
            let col = (0..<5).map { Double(m[n, $0, p, q]) }
            let mean = col.reduce(0, +) / 5
            let variance = col.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 5
            for c in 0..<5 {
                let ref = (col[c] - mean) / (variance + 1e-6).squareRoot() * Double(w2[c]) + Double(b2[c])
                XCTAssertEqual(Double(y2[n, c, p, q]), ref, accuracy: 1e-5)
            }
        }}}
    }

    /// LayerNorm2d splits each image's pixels into 256-pixel tasks: a map with ragged chunks gives,
    /// bit for bit, what one task over all pixels gives (the per-pixel sums run in channel order).
    func testLayerNorm2dIsTheSameWhateverThePixelSplit() {
        let (n, c, h, w) = (2, 7, 19, 31)   // 589 pixels: chunks of 256, 256, 77
        let m = random([n, c, h, w], seed: 15), weight = random([c], seed: 16), bias = random([c], seed: 17)
        let split = m.layerNorm2d(weight: weight, bias: bias, eps: 1e-6)
        for image in 0..<n {
            for p in 0..<(h * w) {
                var mean: Float = 0, variance: Float = 0
                for ch in 0..<c { mean += m.storage[(image * c + ch) * h * w + p] }
                mean /= Float(c)
                for ch in 0..<c { let d = m.storage[(image * c + ch) * h * w + p] - mean; variance += d * d }
                let inverse = 1 / (variance / Float(c) + 1e-6).squareRoot()
                for ch in 0..<c {
                    let i = (image * c + ch) * h * w + p
                    let expected = (m.storage[i] - mean) * inverse * weight.storage[ch] + bias.storage[ch]
                    XCTAssertEqual(split.storage[i].bitPattern, expected.bitPattern, "image \(image) channel \(ch) pixel \(p)")
                }
            }
        }
    }

    /// Transposes, small (one thread) and large (tile rows split across threads), ragged edges.
    func testTransposeMatchesIndexing() {
        let original = ComputeThreads.count
        defer { ComputeThreads.count = original }
        ComputeThreads.count = 2
        for (rows, columns) in [(1, 1), (3, 13), (13, 37), (300, 257), (1024, 256)] {
            let x = random([rows, columns], seed: UInt64(rows * 1000 + columns))
            let t = Transpose.matrix(x, rows: rows, columns: columns)
            XCTAssertEqual(t.shape, [columns, rows])
            var mismatches = 0
            for r in 0..<rows { for c in 0..<columns where t.storage[c * rows + r] != x.storage[r * columns + c] { mismatches += 1 } }
            XCTAssertEqual(mismatches, 0, "\(rows)x\(columns)")
        }
    }

    func testSoftmaxIsStableAndExact() {
        var x = random([3, 19], seed: 15)
        x[1, 4] = 1000; x[2, 0] = -.infinity   // overflow guard and a masked entry
        let y = x.softmax()
        for r in 0..<3 {
            let row = (0..<19).map { Double(x[r, $0]) }
            let m = row.max()!
            let e = row.map { Foundation.exp($0 - m) }
            let s = e.reduce(0, +)
            for j in 0..<19 { XCTAssertEqual(Double(y[r, j]), e[j] / s, accuracy: 1e-6) }
        }
        XCTAssertEqual(y[2, 0], 0)
    }

    func testActivations() {
        let x = Tensor(shape: [21], storage: (0..<21).map { Float($0 - 10) * 0.7 })
        let g = x.gelu(), s = x.sigmoid(), r = x.relu()
        for i in 0..<21 {
            let v = Double(x[i])
            XCTAssertEqual(Double(g[i]), v * 0.5 * (1 + Foundation.erf(v / 2.0.squareRoot())), accuracy: 3e-6)
            XCTAssertEqual(Double(s[i]), 1 / (1 + Foundation.exp(-v)), accuracy: 1e-6)
            XCTAssertEqual(r[i], max(x[i], 0))
        }
        // The 8-lane GELU (the path of CPUs without AVX-512) directly.
        for v in stride(from: Float(-6), through: 6, by: 0.25) {
            let g8 = VectorMath.gelu(SIMD8(repeating: v))[0]
            XCTAssertEqual(Double(g8), Double(v) * 0.5 * (1 + Foundation.erf(Double(v) / 2.0.squareRoot())), accuracy: 3e-6)
        }
        // Wide range of exp arguments against libm.
        for v in stride(from: Float(-80), through: 80, by: 0.37) {
            let e = VectorMath.exp(SIMD8(repeating: v))[0]
            XCTAssertEqual(Double(e), Foundation.exp(Double(v)), accuracy: Foundation.exp(Double(v)) * 3e-7)
        }
    }

    func testAttentionMatchesNaive() {
        // Query count above one block so the row tiling is exercised.
        let (b, h, nq, nk, d) = (1, 3, 150, 37, 8)
        let q = random([b, h, nq, d], seed: 16), k = random([b, h, nk, d], seed: 17), v = random([b, h, nk, d], seed: 18)
        // Both implementations: OpenBLAS (every CPU) and AVX-512 (where present).
        for avx512 in CPUFeatures.hasAVX512 ? [false, true] : [false] {
        let y = Tensor.scaledDotProductAttention(q: q, k: k, v: v, useAVX512: avx512)
        let scale = 1 / Double(d).squareRoot()
        var worst: Double = 0
        for hh in 0..<h { for i in 0..<nq {
            var logits = [Double](repeating: 0, count: nk)
            for j in 0..<nk { for c in 0..<d { logits[j] += Double(q[0, hh, i, c]) * Double(k[0, hh, j, c]) }; logits[j] *= scale }
            let m = logits.max()!
            let e = logits.map { Foundation.exp($0 - m) }
            let s = e.reduce(0, +)
            for c in 0..<d {
                var o: Double = 0
                for j in 0..<nk { o += e[j] / s * Double(v[0, hh, j, c]) }
                worst = max(worst, abs(o - Double(y[0, hh, i, c])))
            }
        }}
        XCTAssertLessThan(worst, 1e-5, "attention, avx512=\(avx512)")
        }
    }

    /// The single-head kernel with a logit adjustment (FSSAM's calibration hook): both paths
    /// against a naive loop that applies the same adjustment to the scaled logits, for query
    /// counts that leave ragged blocks, with one and two threads (the block size follows them).
    func testAttentionWithLogitAdjustmentMatchesNaive() {
        let original = ComputeThreads.count
        defer { ComputeThreads.count = original }
        let (nk, d) = (70, 32)
        // The adjustment: subtract 0.5 from every third logit, then clamp below at -1.
        func adjust(_ row: UnsafeMutablePointer<Float>) {
            for j in stride(from: 0, to: nk, by: 3) { row[j] -= 0.5 }
            for j in 0..<nk { row[j] = max(row[j], -1) }
        }
        for (threads, nq) in [(1, 1), (1, 131), (2, 7), (2, 250)] {
            ComputeThreads.count = threads
            let q = random([nq, d], seed: 30), k = random([nk, d], seed: 31), v = random([nk, d], seed: 32)
            let scale: Float = 0.3
            for avx512 in CPUFeatures.hasAVX512 ? [false, true] : [false] {
                var out = [Float](repeating: .nan, count: nq * d)
                q.withUnsafeBufferPointer { pq in k.withUnsafeBufferPointer { pk in v.withUnsafeBufferPointer { pv in
                    out.withUnsafeMutableBufferPointer { po in
                        AttentionKernel.scaledDotProduct(q: pq.baseAddress!, k: pk.baseAddress!, v: pv.baseAddress!, queries: nq,
                                                         keys: nk, dim: d, scale: scale, output: po.baseAddress!,
                                                         adjustingLogits: adjust, useAVX512: avx512)
                    }
                }}}
                var worst: Double = 0
                for i in 0..<nq {
                    var logits = [Float](repeating: 0, count: nk)
                    for j in 0..<nk {
                        var dot: Double = 0
                        for c in 0..<d { dot += Double(q[i, c]) * Double(k[j, c]) }
                        logits[j] = Float(dot) * scale
                    }
                    logits.withUnsafeMutableBufferPointer { adjust($0.baseAddress!) }
                    let m = Double(logits.max()!)
                    let e = logits.map { Foundation.exp(Double($0) - m) }
                    let sum = e.reduce(0, +)
                    for c in 0..<d {
                        var o: Double = 0
                        for j in 0..<nk { o += e[j] / sum * Double(v[j, c]) }
                        worst = max(worst, abs(o - Double(out[i * d + c])))
                    }
                }
                XCTAssertLessThan(worst, 1e-5, "threads \(threads), \(nq) queries, avx512=\(avx512)")
            }
        }
    }

    /// Attention split into segments of keys (values narrower than q·k, a logit adjustment on part
    /// of one segment) and combined equals one softmax over all keys, on both paths, with ragged
    /// query blocks and one or two threads; the larger maximum may sit in either segment.
    func testAttentionSegmentsCombineToTheWholeAttention() {
        let original = ComputeThreads.count
        defer { ComputeThreads.count = original }
        let (d, dv, nk1, nk2) = (24, 8, 37, 50)
        // Segment 2's keys 10..<30 get a bias that differs per row, as the calibration's does.
        func adjust(_ row: UnsafeMutablePointer<Float>) {
            for j in 0..<20 { row[j] = row[j] * 0.5 - 1 }
        }
        for (threads, nq) in [(1, 5), (2, 131)] {
            ComputeThreads.count = threads
            let q = random([nq, d], seed: 50)
            let k1 = random([nk1, d], seed: 51)
            let k2 = random([nk2, d], seed: 52), v1 = random([nk1, dv], seed: 53), v2 = random([nk2, dv], seed: 54)
            let scale: Float = 0.4
            for avx512 in CPUFeatures.hasAVX512 ? [false, true] : [false] {
                let first = q.withUnsafeBufferPointer { pq in k1.withUnsafeBufferPointer { pk in v1.withUnsafeBufferPointer { pv in
                    AttentionKernel.segment(q: pq.baseAddress!, k: pk.baseAddress!, v: pv.baseAddress!, queries: nq, keys: nk1,
                                            dim: d, valueDim: dv, scale: scale, useAVX512: avx512)
                }}}
                let second = q.withUnsafeBufferPointer { pq in k2.withUnsafeBufferPointer { pk in v2.withUnsafeBufferPointer { pv in
                    AttentionKernel.segment(q: pq.baseAddress!, k: pk.baseAddress!, v: pv.baseAddress!, queries: nq, keys: nk2,
                                            dim: d, valueDim: dv, scale: scale, useAVX512: avx512) { adjust($0 + 10) }
                }}}
                let out = AttentionSegment.combined([first, second])
                XCTAssertEqual(out.shape, [nq, dv])
                var worst: Double = 0, firstWins = 0
                for i in 0..<nq {
                    var logits = [Float](repeating: 0, count: nk1 + nk2)
                    for j in 0..<(nk1 + nk2) {
                        var dot: Double = 0
                        for c in 0..<d { dot += Double(q[i, c]) * Double(j < nk1 ? k1[j, c] : k2[j - nk1, c]) }
                        logits[j] = Float(dot) * scale
                    }
                    logits.withUnsafeMutableBufferPointer { adjust($0.baseAddress! + nk1 + 10) }
                    if logits[..<nk1].max()! > logits[nk1...].max()! { firstWins += 1 }
                    let m = Double(logits.max()!)
                    let e = logits.map { Foundation.exp(Double($0) - m) }
                    let sum = e.reduce(0, +)
                    for c in 0..<dv {
                        var o: Double = 0
                        for j in 0..<(nk1 + nk2) { o += e[j] / sum * Double(j < nk1 ? v1[j, c] : v2[j - nk1, c]) }
                        worst = max(worst, abs(o - Double(out[i, c])))
                    }
                }
                XCTAssertLessThan(worst, 1e-5, "threads \(threads), \(nq) queries, avx512=\(avx512)")
                if nq > 100 { XCTAssertTrue(firstWins > 0 && firstWins < nq, "both segments hold some rows' maxima: \(firstWins)") }
            }
        }
    }

    /// The calibration row operation: the AVX-512 path gives the scalar loop's bits, on lengths
    /// around the 16-lane width, with rows that are biased in part, everywhere and nowhere.
    func testRangeNormalizedNegativeBiasPathsAgreeBitForBit() {
        for count in [1, 5, 15, 16, 17, 64, 1024, 1031] {
            let row = random([count], seed: UInt64(40 + count)).storage
            for offsetShift: Float in [-1.5, -0.5, 0.5] {
                let offsets = random([count], seed: UInt64(90 + count)).storage.map { $0 * 0.5 + offsetShift }
                var scalar = row, vector = row
                var expected = row
                // The definition, written out.
                let (lo, hi) = (row.min()!, row.max()!)
                for j in 0..<count {
                    let x = (row[j] - lo) / (hi - lo + 1e-7) + offsets[j]
                    if x < 0 { expected[j] = row[j] + 10 * x }
                }
                offsets.withUnsafeBufferPointer { o in
                    scalar.withUnsafeMutableBufferPointer {
                        RowOperations.rangeNormalizedNegativeBias($0.baseAddress!, count: count, offsets: o.baseAddress!, alpha: 10,
                                                                  epsilon: 1e-7, useAVX512: false)
                    }
                    if CPUFeatures.hasAVX512 {
                        vector.withUnsafeMutableBufferPointer {
                            RowOperations.rangeNormalizedNegativeBias($0.baseAddress!, count: count, offsets: o.baseAddress!, alpha: 10,
                                                                      epsilon: 1e-7, useAVX512: true)
                        }
                    }
                }
                XCTAssertEqual(scalar.map(\.bitPattern), expected.map(\.bitPattern), "scalar, \(count) values, shift \(offsetShift)")
                if CPUFeatures.hasAVX512 {
                    XCTAssertEqual(vector.map(\.bitPattern), expected.map(\.bitPattern), "AVX-512, \(count) values, shift \(offsetShift)")
                }
            }
        }
    }

    func testThreadCountIsSettable() {
        let original = ComputeThreads.count
        defer { ComputeThreads.count = original }
        ComputeThreads.count = 1
        XCTAssertEqual(ComputeThreads.count, 1)
        var hits = [Int](repeating: 0, count: 100)
        hits.withUnsafeMutableBufferPointer { p in
            nonisolated(unsafe) let p = p
            ComputeThreads.count = 2
            ComputeThreads.parallelFor(100) { p[$0] += 1 }
        }
        XCTAssertEqual(hits, [Int](repeating: 1, count: 100))
    }
}

final class PackedLinearTests: XCTestCase {
    /// Both kernels (AVX-512 where the CPU has it, OpenBLAS always) against a naive loop, on
    /// shapes with row/column/K remainders (m % 6, n % 32, k > the 256 K block).
    func testPackedLinearMatchesNaive() {
        let (m, n, k) = (13, 45, 300)
        var seed: UInt64 = 99
        func next() -> Float { seed = seed &* 6364136223846793005 &+ 1442695040888963407; return Float(seed >> 40) / Float(1 << 24) - 0.5 }
        let x = Tensor(shape: [m, k], storage: (0..<(m * k)).map { _ in next() })
        let w = Tensor(shape: [n, k], storage: (0..<(n * k)).map { _ in next() })
        let b = Tensor(shape: [n], storage: (0..<n).map { _ in next() })
        var variants = [false]
        if CPUFeatures.hasAVX512 { variants.append(true) }
        for avx512 in variants {
            let packed = PackedLinearWeights(w, useAVX512: avx512)
            XCTAssertEqual(packed.isPackedForAVX512, avx512)
            for bias in [b, nil] as [Tensor?] {
                let y = packed(x, bias: bias)
                var worst: Float = 0
                for r in 0..<m { for o in 0..<n {
                    var s: Double = Double(bias?[o] ?? 0)
                    for i in 0..<k { s += Double(x[r, i]) * Double(w[o, i]) }
                    worst = max(worst, abs(Float(s) - y[r, o]))
                }}
                XCTAssertLessThan(worst, 1e-4, "avx512=\(avx512) bias=\(bias != nil)")
            }
        }
    }
}

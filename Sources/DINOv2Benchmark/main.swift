// DINOv2-B/14 at 560×560, one image: wall time, GEMM GFLOP/s and peak RSS.
// Usage: DINOv2Benchmark [--threads N] [--runs N] [--size 560] [--model base|small|large]
// Weights are fssam-synth-v1 (the fixtures' weights); the input is a fixed pseudo-random image.
import Checkpoint
import Foundation
import Models
import Tensor

var threads = ProcessInfo.processInfo.activeProcessorCount
var runs = 3
var size = 560
var config = DINOv2Config.base
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--threads": threads = Int(arguments.next() ?? "") ?? threads
    case "--runs": runs = max(1, Int(arguments.next() ?? "") ?? runs)
    case "--size": size = Int(arguments.next() ?? "") ?? size
    case "--model":
        switch arguments.next() {
        case "small": config = .small
        case "large": config = .large
        default: config = .base
        }
    default:
        FileHandle.standardError.write("unknown argument \(argument)\n".data(using: .utf8)!)
        exit(2)
    }
}
ComputeThreads.count = threads

func peakRSSMegabytes() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_maxrss) / 1024   // Linux reports KiB
}

/// GEMM FLOPs of one forward (2·m·n·k per product), the usual ViT count.
func gemmFlops(tokens n: Int, dim d: Int, hidden: Int, depth: Int, patchInputs: Int) -> Double {
    let nn = Double(n), dd = Double(d)
    let perBlock = 2 * nn * dd * 3 * dd          // qkv
        + 2 * 2 * nn * nn * dd                    // q·kᵀ and p·v over all heads
        + 2 * nn * dd * dd                        // proj
        + 2 * 2 * nn * dd * Double(hidden)        // fc1, fc2
    return perBlock * Double(depth) + 2 * (nn - 1) * dd * Double(patchInputs)
}

let loadStart = Date()
let model = try DinoVisionTransformer(stateDict: try SyntheticWeights().dinov2(config))
let loadSeconds = Date().timeIntervalSince(loadStart)

var state: UInt64 = 12345
let image = Tensor(shape: [1, 3, size, size], storage: (0..<(3 * size * size)).map { _ in
    state = state &* 6364136223846793005 &+ 1442695040888963407
    return Float(state >> 40) / Float(1 << 24) * 4 - 2
})

var times: [Double] = []
var checksum: Float = 0
for run in 0...runs {   // run 0 is the warm-up
    let start = Date()
    let out = model(image)
    let seconds = Date().timeIntervalSince(start)
    if run > 0 { times.append(seconds) }
    checksum = out.storage.prefix(1000).reduce(0, +)
}
times.sort()
let median = times[times.count / 2]
let grid = size / model.patchSize
let flops = gemmFlops(tokens: grid * grid + 1, dim: model.embedDim, hidden: model.blocks[0].mlp.hiddenWidth,
                      depth: model.depth, patchInputs: 3 * model.patchSize * model.patchSize)
print(String(format: "swift: %@ %dx%d threads=%d load=%.2fs median=%.3fs (runs %@) gemm=%.1f GFLOP %.1f GFLOP/s peak_rss=%.0f MB checksum=%.4f",
             config.name, size, size, threads, loadSeconds, median,
             times.map { String(format: "%.3f", $0) }.joined(separator: "/"),
             flops / 1e9, flops / 1e9 / median, peakRSSMegabytes(), checksum))

// --- component timings (only with FSSAM_BENCH_COMPONENTS=1): where one block's time goes.
if ProcessInfo.processInfo.environment["FSSAM_BENCH_COMPONENTS"] == "1" {
    let n = (size / 14) * (size / 14) + 1, d = model.embedDim, hidden = 4 * d
    func timeIt(_ label: String, flops: Double = 0, repeats: Int = 5, _ body: () -> Void) {
        body()
        let start = Date()
        for _ in 0..<repeats { body() }
        let s = Date().timeIntervalSince(start) / Double(repeats)
        print(String(format: "  %-28@ %8.2f ms%@", label as NSString, s * 1000,
                     flops > 0 ? String(format: "  %.1f GFLOP/s", flops / s / 1e9) : ""))
    }
    var x = [Float](repeating: 0.01, count: n * hidden)
    var w = [Float](repeating: 0.02, count: hidden * d * 3)
    var y = [Float](repeating: 0, count: n * hidden * 3)
    x.withUnsafeMutableBufferPointer { px in w.withUnsafeMutableBufferPointer { pw in y.withUnsafeMutableBufferPointer { py in
        let (a, b, c) = (px.baseAddress!, pw.baseAddress!, py.baseAddress!)
        timeIt("qkv gemm \(n)x\(3 * d)x\(d)", flops: 2.0 * Double(n * 3 * d * d)) {
            BLAS.sgemm(transposeB: true, m: n, n: 3 * d, k: d, a: a, lda: d, b: b, ldb: d, c: c, ldc: 3 * d) }
        timeIt("fc1 gemm \(n)x\(hidden)x\(d)", flops: 2.0 * Double(n * hidden * d)) {
            BLAS.sgemm(transposeB: true, m: n, n: hidden, k: d, a: a, lda: d, b: b, ldb: d, c: c, ldc: hidden) }
        timeIt("fc2 gemm \(n)x\(d)x\(hidden)", flops: 2.0 * Double(n * hidden * d)) {
            BLAS.sgemm(transposeB: true, m: n, n: d, k: hidden, a: a, lda: hidden, b: b, ldb: hidden, c: c, ldc: d) }
        timeIt("attention 12 heads", flops: 4.0 * Double(n * n * d)) {
            AttentionKernel.scaledDotProduct(q: a, ldq: 3 * d, k: a + d, ldk: 3 * d, v: a + 2 * d, ldv: 3 * d,
                                             queries: n, keys: n, heads: d / 64, headDim: 64, scale: 0.125,
                                             output: c, ldo: d) }
        let packedQKV = PackedLinearWeights(Tensor(shape: [3 * d, d], repeating: 0.02))
        let packedFC1 = PackedLinearWeights(Tensor(shape: [hidden, d], repeating: 0.02))
        let packedFC2 = PackedLinearWeights(Tensor(shape: [d, hidden], repeating: 0.02))
        print("  packed kernels: \(packedQKV.isPackedForAVX512 ? "AVX-512" : "OpenBLAS")")
        timeIt("packed qkv", flops: 2.0 * Double(n * 3 * d * d)) { packedQKV.apply(a, rows: n, bias: b, into: c) }
        timeIt("packed fc1", flops: 2.0 * Double(n * hidden * d)) { packedFC1.apply(a, rows: n, bias: b, into: c) }
        timeIt("packed fc2", flops: 2.0 * Double(n * hidden * d)) { packedFC2.apply(a, rows: n, bias: b, into: c) }
        let scoresW = PackedLinearWeights(Tensor(shape: [n, 64], repeating: 0.02))
        let pvW = PackedLinearWeights(Tensor(shape: [64, n], repeating: 0.02))
        timeIt("12x scores-shaped gemm", flops: 12 * 2.0 * Double(n * n * 64)) {
            for _ in 0..<12 { scoresW.apply(a, rows: n, bias: nil, into: c) } }
        timeIt("12x pv-shaped gemm", flops: 12 * 2.0 * Double(n * n * 64)) {
            for _ in 0..<12 { pvW.apply(a, rows: n, bias: nil, into: c) } }
        timeIt("12x softmax rows", flops: 0) { for _ in 0..<12 { Softmax.rows(c, rows: n, count: n, scale: 0.125) } }
        timeIt("gelu \(n)x\(hidden)") { Activations.geluInPlace(c, count: n * hidden) }
        timeIt("layernorm \(n)x\(d)") { Normalization.layerNorm(a, rows: n, dim: d, weight: b, bias: b, eps: 1e-6, into: c) }
        timeIt("softmax \(n)x\(n)") { Softmax.rows(c, rows: n, count: n, scale: 0.125) }
    }}}
}

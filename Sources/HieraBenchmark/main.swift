// Times SAM 2's Hiera trunk and the full FSSAM image encoder (trunk + FPN neck + conv_s0/s1 +
// sine PE) at 512×512 with fssam-synth-v1 weights, one image. Prints one line per measurement in
// the format scripts/bench/hiera_bench.sh parses.
//
// Usage: HieraBenchmark [--threads N] [--runs R] [--size S] [--variant tiny|small|base+|large]
import Checkpoint
import Foundation
import Models
import Tensor

var threadsOption = ComputeThreads.count, runsOption = 3, sizeOption = 512, variant = "small"
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let flag = arguments.next() {
    guard let value = arguments.next() else { fatalError("\(flag) needs a value") }
    switch flag {
    case "--threads": threadsOption = Int(value)!
    case "--runs": runsOption = Int(value)!
    case "--size": sizeOption = Int(value)!
    case "--variant": variant = value
    default: fatalError("unknown option \(flag)")
    }
}
let threads = threadsOption, runs = runsOption, size = sizeOption
ComputeThreads.count = threads
guard let config = SAM2Config.all.first(where: { $0.name.hasSuffix("_" + variant.prefix(1)) || $0.name == "sam2_hiera_" + variant })
        ?? (variant == "small" ? .small : nil) else { fatalError("unknown variant \(variant)") }

func seconds(_ body: () -> Void) -> Double {
    let t0 = DispatchTime.now().uptimeNanoseconds
    body()
    return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
}

/// User + system CPU seconds of this process so far (steadier than wall time on a shared machine).
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

func peakRSSMegabytes() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_maxrss) / 1024
}

/// GEMM multiply-adds ×2 of the trunk. `paddedProjections`: count qkv and attn.proj over padded
/// window tokens, as PyTorch's partition-then-project does; this port projects real tokens only.
func trunkFlops(_ trunk: Hiera, size: Int, paddedProjections: Bool) -> Double {
    let e = trunk.config.embedDim
    var h = (size + 6 - 7) / 4 + 1
    var flops = 2.0 * Double(h * h * e * 3 * 49)
    for block in trunk.blocks {
        let s = block.spec
        let ho = s.poolsQuery ? h / 2 : h
        let (n, no) = (Double(h * h), Double(ho * ho))
        var projected = n, projectedOut = no, queries = no, keys = n
        if s.window > 0 {
            let hp = (h + s.window - 1) / s.window * s.window
            let wq = s.poolsQuery ? s.window / 2 : s.window
            let windows = Double((hp / s.window) * (hp / s.window))
            queries = windows * Double(wq * wq)
            keys = Double(s.window * s.window)
            if paddedProjections { projected = Double(hp * hp); projectedOut = queries }
            flops += 4 * queries * keys * Double(s.dimOut)
        } else {
            flops += 4 * queries * keys * Double(s.dimOut)
        }
        flops += 2 * projected * Double(s.dim * 3 * s.dimOut)
        if s.dim != s.dimOut { flops += 2 * n * Double(s.dim * s.dimOut) }
        flops += 2 * projectedOut * Double(s.dimOut * s.dimOut) + 16 * no * Double(s.dimOut * s.dimOut)
        h = ho
    }
    return flops
}

let loadTime = Date()
let encoder = try SAM2ImageEncoder(stateDict: try SyntheticWeights().sam2(config))
let load = Date().timeIntervalSince(loadTime)
// A deterministic smooth-plus-noise RGB image in 0..255.
let plane = size * size
let image = Tensor(shape: [3, size, size]) { out in
    var state: UInt64 = 0x9E3779B97F4A7C15
    for i in 0..<(3 * plane) {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        let noise = Float(state >> 40) / Float(1 << 24)
        let (y, x) = ((i % plane) / size, i % size)
        out[i] = (127.5 + 90 * sinf(Float(x + 3 * y) / 37) + 30 * noise).rounded()
    }
}
let normalized = SAM2ImageEncoder.normalize(image)

func measure(_ name: String, gflop: Double, _ body: () -> Void) {
    var times: [Double] = []
    var cpu: [Double] = []
    for run in 0...runs {   // run 0 warms up (page faults, caches, position tables)
        let c0 = cpuSeconds()
        let t = seconds(body)
        if run > 0 { times.append(t); cpu.append(cpuSeconds() - c0) }
    }
    let median = times.sorted()[times.count / 2]
    print(String(format: "swift: %@ %@ %dx%d threads=%d load=%.2fs median=%.3fs (runs %@) gemm=%.1f GFLOP %.1f GFLOP/s cpu=%.3fs peak_rss=%.0f MB",
                 config.name, name, size, size, threads, load, median,
                 times.map { String(format: "%.3f", $0) }.joined(separator: "/"), gflop, gflop / median, cpu.sorted()[cpu.count / 2], peakRSSMegabytes()))
}

let swiftFlops = trunkFlops(encoder.trunk, size: size, paddedProjections: false) / 1e9
let torchFlops = trunkFlops(encoder.trunk, size: size, paddedProjections: true) / 1e9
print(String(format: "info: trunk GEMM work %.1f GFLOP as computed here (qkv/proj on real tokens), %.1f GFLOP as PyTorch computes it", swiftFlops, torchFlops))
measure("trunk", gflop: swiftFlops) { _ = encoder.trunk(normalized) }
// The neck's four 1×1 lateral convs to 256 channels and conv_s0 / conv_s1.
let neckFlops: Double = {
    var total = 0.0, h = size / 4
    for c in encoder.trunk.config.stageDims { total += 2.0 * Double(h * h * c * 256); h /= 2 }
    let (h0, h1) = (size / 4, size / 8)
    return (total + 2.0 * Double(h0 * h0 * 256 * 32) + 2.0 * Double(h1 * h1 * 256 * 64)) / 1e9
}()
measure("encoder", gflop: swiftFlops + neckFlops) { _ = encoder(image: image) }

// Per-block breakdown (one pass after the timed runs), to see where the time goes.
if ProcessInfo.processInfo.environment["HIERA_PROFILE"] == "1" {
    var x = encoder.trunk.patchEmbed(normalized)
    for (i, block) in encoder.trunk.blocks.enumerated() {
        let s = block.spec
        let c0 = cpuSeconds()
        let t = seconds { x = block(x) }
        print(String(format: "profile: block %2d %4d->%4d window %2d pool %d  %.3f s (cpu %.3f s)", i, s.dim, s.dimOut, s.window,
                     s.poolsQuery ? 1 : 0, t, cpuSeconds() - c0))
    }
    // What a plain GEMM reaches right now, for scale (machine load varies).
    for (rows, k, n) in [(16384, 96, 384), (1024, 384, 1536), (4096, 192, 768)] {
        let a = Tensor(shape: [rows, k], repeating: 0.5), w = Tensor(shape: [n, k], repeating: 0.25)
        _ = a.linear(weight: w, bias: nil)
        let t = seconds { _ = a.linear(weight: w, bias: nil) }
        print(String(format: "profile: gemm %dx%dx%d %.4f s %.1f GFLOP/s", rows, k, n, t, 2.0 * Double(rows * k * n) / t / 1e9))
    }
}

// Inside-block breakdown for a few representative blocks (the public pieces the block runs).
if ProcessInfo.processInfo.environment["HIERA_PROFILE"] == "1" {
    var x = encoder.trunk.patchEmbed(normalized)
    for (i, block) in encoder.trunk.blocks.enumerated() {
        if [0, 1, 4, 7, 15].contains(i) {
            var normed = x.data, attended = x, qkv = x.data
            func cpu(_ body: () -> Void) -> Double { let c0 = cpuSeconds(); body(); return cpuSeconds() - c0 }
            let tn = cpu { normed = block.norm1(x.data) }
            let map = TokenMap(data: normed, height: x.height, width: x.width)
            let tq = cpu { qkv = normed.linear(weight: block.attn.qkv.weight, bias: block.attn.qkv.bias) }
            _ = qkv
            let ta = cpu { attended = block.attn(map, window: block.spec.window) }
            let tm = cpu { var y = attended.data; block.feedForwardResidual(&y) }
            print(String(format: "profile: block %2d cpu s: norm1 %.4f qkv-gemm %.4f attn(qkv+attn+proj) %.4f norm2+mlp+add %.4f", i, tn, tq, ta, tm))
        }
        x = block(x)
    }
}

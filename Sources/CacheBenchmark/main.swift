// Stage cache benchmark: put throughput and hit latency (get + verify + decode) against what users
// do today, one `.npy` file per item (write with fsync; read = open, read, parse header, fresh
// [Float]), measured in the same run on the same disk. Also compression ratios of the codecs.
//
//   swift run -c release --scratch-path .build-cache CacheBenchmark [--items N] [--dir DIR]
import CZstd
import Foundation
import StageCache

// MARK: setup

var itemCount = 64
var baseDir = FileManager.default.temporaryDirectory.appendingPathComponent("fssam-cache-bench-\(getpid())").path
var argIterator = CommandLine.arguments.dropFirst().makeIterator()
while let a = argIterator.next() {
    switch a {
    case "--items": itemCount = Int(argIterator.next() ?? "") ?? itemCount
    case "--dir": baseDir = argIterator.next() ?? baseDir
    default: print("unknown argument \(a)"); exit(2)
    }
}
try? FileManager.default.removeItem(atPath: baseDir)
try FileManager.default.createDirectory(atPath: baseDir, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: baseDir) }

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
func ms(_ ns: UInt64) -> Double { Double(ns) / 1e6 }
/// CPU seconds used by this process (all threads, user + system): a load-independent cost figure
/// on a shared machine where wall-clock throughput depends on what else is running.
func cpuSeconds() -> Double {
    var u = rusage(); getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6
}
struct Summary { let median: Double, p90: Double }
func summarize(_ samples: [Double]) -> Summary {
    let s = samples.sorted()
    return Summary(median: s[s.count / 2], p90: s[min(s.count - 1, Int(Double(s.count) * 0.9))])
}
func f(_ x: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", x) }

struct RNG {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Float { Float(next() >> 40) / Float(1 << 24) }
    mutating func gaussian() -> Float {
        let u1 = max(uniform(), 1e-7), u2 = uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}

/// Smooth per-channel patterns plus noise: the statistics of a post-norm feature map.
func features(_ shape: [Int], seed: UInt64, noise: Float = 0.05) -> CacheTensor {
    var rng = RNG(state: seed)
    let c = shape[0], plane = shape.dropFirst().reduce(1, *), w = shape.last!
    var v = [Float](repeating: 0, count: c * plane)
    for ch in 0..<c {
        let fx = Float(ch % 7 + 1) * 0.05, fy = Float(ch % 5 + 1) * 0.07, phase = Float(ch) * 0.3, gain = 0.5 + Float(ch % 3)
        for i in 0..<plane {
            let x = Float(i % w), y = Float(i / w)
            v[ch * plane + i] = gain * sin(x * fx + phase) * cos(y * fy) + noise * rng.gaussian()
        }
    }
    return CacheTensor(shape: shape, floats: v)
}
func gaussianNoise(_ shape: [Int], seed: UInt64) -> CacheTensor {
    var rng = RNG(state: seed)
    return CacheTensor(shape: shape, floats: (0..<shape.reduce(1, *)).map { _ in rng.gaussian() })
}
func blobMask(_ h: Int, _ w: Int, seed: UInt64) -> CacheTensor {
    var rng = RNG(state: seed)
    let cx = Float(w) * (0.3 + 0.4 * rng.uniform()), cy = Float(h) * (0.3 + 0.4 * rng.uniform())
    let r = Float(min(h, w)) * (0.15 + 0.2 * rng.uniform())
    var m = [Bool](repeating: false, count: h * w)
    for y in 0..<h { for x in 0..<w {
        let dx = Float(x) - cx, dy = Float(y) - cy
        m[y * w + x] = dx * dx + dy * dy * 1.3 < r * r * (1 + 0.1 * sin(Float(x) * 0.3))
    } }
    return CacheTensor(shape: [h, w], mask: m)
}
/// Distinct content per item without regenerating: perturb one value per chunk.
func variant(_ t: CacheTensor, _ i: Int) -> CacheTensor {
    switch t.elements {
    case .float32(var v):
        for j in stride(from: 0, to: v.count, by: 65_536) { v[j] += Float(i + 1) * 1e-3 }
        return CacheTensor(shape: t.shape, floats: v)
    case .bool(var m):
        m[i % m.count].toggle(); return CacheTensor(shape: t.shape, mask: m)
    case .uint8(var b):
        b[i % b.count] &+= 1; return CacheTensor(shape: t.shape, bytes: b)
    }
}

// MARK: .npy peer

enum Npy {
    static func header(shape: [Int], descr: String) -> [UInt8] {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var dict = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        let unpadded = 10 + dict.utf8.count + 1
        dict += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        let n = UInt16(dict.utf8.count)
        return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(n & 0xff), UInt8(n >> 8)] + Array(dict.utf8)
    }

    static func write(_ t: CacheTensor, to path: String) throws {
        let descr = t.dtype == .float32 ? "<f4" : "|u1"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw CacheError.invalidArgument("open \(path): errno \(errno)") }
        defer { close(fd) }
        let h = header(shape: t.shape, descr: descr)
        try h.withUnsafeBytes { try writeAll(fd, $0) }
        try t.withContentBytes { try writeAll(fd, $0) }
        guard fsync(fd) == 0 else { throw CacheError.invalidArgument("fsync \(path): errno \(errno)") }
    }

    static func writeAll(_ fd: Int32, _ b: UnsafeRawBufferPointer) throws {
        var off = 0
        while off < b.count {
            let n = Foundation.write(fd, b.baseAddress! + off, b.count - off)
            guard n > 0 else { throw CacheError.invalidArgument("write: errno \(errno)") }
            off += n
        }
    }

    /// open, read, parse the header, copy into a fresh [Float].
    static func readFloats(_ path: String) throws -> (shape: [Int], values: [Float]) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw CacheError.invalidArgument("open \(path)") }
        defer { close(fd) }
        var st = stat()
        fstat(fd, &st)
        let size = Int(st.st_size)
        var bytes = [UInt8](repeating: 0, count: size)
        let got = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, size) }
        guard got == size, size >= 10, bytes[0] == 0x93 else { throw CacheError.invalidArgument("short or bad npy \(path)") }
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        let dict = String(decoding: bytes[10..<(10 + headerLength)], as: UTF8.self)
        guard dict.contains("'descr': '<f4'"), dict.contains("'fortran_order': False"),
              let open = dict.range(of: "'shape': ("), let close = dict[open.upperBound...].firstIndex(of: ")")
        else { throw CacheError.invalidArgument("unsupported npy header \(dict)") }
        let shape = dict[open.upperBound..<close].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let count = shape.reduce(1, *)
        let dataOffset = 10 + headerLength
        guard size - dataOffset == count * 4 else { throw CacheError.invalidArgument("npy size mismatch") }
        let values = [Float](unsafeUninitializedCapacity: count) { out, n in
            bytes.withUnsafeBytes { src in
                UnsafeMutableRawPointer(out.baseAddress!).copyMemory(from: src.baseAddress! + dataOffset, byteCount: count * 4)
            }
            n = count
        }
        return (shape, values)
    }
}

// MARK: compression ratios

func plainZstdSize(_ t: CacheTensor, level: Int32) -> Int {
    t.withContentBytes { src in
        let bound = ZSTD_compressBound(src.count)
        var out = [UInt8](repeating: 0, count: bound)
        return out.withUnsafeMutableBytes { ZSTD_compress($0.baseAddress, bound, src.baseAddress, src.count, level) }
    }
}

let featureShape = [256, 48, 50]  // 614,400 floats = 2.46 MB
let smooth = features(featureShape, seed: 1)
let noise = gaussianNoise(featureShape, seed: 2)
let memory = features([64, 512], seed: 3)  // 32,768 floats = 128 KB (memory_encode output scale)
let mask = blobMask(128, 256, seed: 4)    // 32,768 bools = 32 KB

func loadAverage() -> String { (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?" }
print("fssam stage cache benchmark — \(ProcessInfo.processInfo.activeProcessorCount) cores, load average \(loadAverage()), items per case: \(itemCount), dir \(baseDir)")
print("")
print("Compression (raw / stored; higher is better)")
print("  tensor                    raw MB   f32 lossless   f16 lossy   plain zstd-3   plain zstd-1")
for (name, t) in [("features smooth+noise", smooth), ("features gaussian noise", noise), ("memory 128 KB", memory)] {
    let raw = Double(t.byteCount)
    let lossless = try BlobCodec().encode(t).storedByteCount
    let half = try BlobCodec().encode(t, kind: .float16Lossy).storedByteCount
    print("  \(name.padding(toLength: 24, withPad: " ", startingAt: 0))  \(f(raw / 1e6, 3))    \(f(raw / Double(lossless), 3))×        \(f(raw / Double(half), 3))×      \(f(raw / Double(plainZstdSize(t, level: 3)), 3))×         \(f(raw / Double(plainZstdSize(t, level: 1)), 3))×")
}
let maskBlob = try BlobCodec().encode(mask)
print("  mask 32 KB (bool)         \(f(Double(mask.byteCount) / 1e6,3))    bit-packed+zstd \(f(Double(mask.byteCount) / Double(maskBlob.storedByteCount), 1))×   plain zstd-3 \(f(Double(mask.byteCount) / Double(plainZstdSize(mask, level: 3)), 1))×")
print("")
// The floor under any verified read: SHA-256 of the content (the digest is defined over it).
do {
    var sha: [Double] = [], copy: [Double] = []
    for _ in 0..<15 {
        let t0 = now(); _ = smooth.withContentBytes { Digest.sha256($0) }; let t1 = now()
        let c = [Float](unsafeUninitializedCapacity: smooth.count) { b, n in
            smooth.withContentBytes { UnsafeMutableRawPointer(b.baseAddress!).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }; n = smooth.count }
        let t2 = now(); precondition(c.count == smooth.count)
        sha.append(ms(t1 - t0)); copy.append(ms(t2 - t1))
    }
    print("Floor for a verified 2.46 MB read: SHA-256 alone \(f(summarize(sha).median, 3)) ms on one core (\(f(2.4576 / summarize(sha).median, 2)) GB/s); copy into a fresh [Float] \(f(summarize(copy).median, 3)) ms")
    print("")
}
print("zstd level for float32 lossless (features smooth+noise, single encode+decode, median of 9)")
for level: Int32 in [-5, -1, 1, 3] {
    let codec = BlobCodec(zstdLevel: level)
    var enc: [Double] = [], dec: [Double] = []
    var stored = 0
    for _ in 0..<9 {
        let t0 = now(); let b = try codec.encode(smooth); let t1 = now()
        _ = try codec.decode(b.bytes, expected: b.digest); let t2 = now()
        enc.append(ms(t1 - t0)); dec.append(ms(t2 - t1)); stored = b.storedByteCount
    }
    print("  level \(String(format: "%3d", level)): ratio \(f(Double(smooth.byteCount) / Double(stored), 3))×  encode \(f(summarize(enc).median)) ms  decode+verify \(f(summarize(dec).median)) ms")
}
print("")

// MARK: cache vs npy

struct Case { let name: String; let tensor: CacheTensor; let isFloat: Bool }
let cases = [Case(name: "features 2.46 MB smooth+noise", tensor: smooth, isFloat: true),
             Case(name: "features 2.46 MB gaussian noise", tensor: noise, isFloat: true),
             Case(name: "memory 128 KB", tensor: memory, isFloat: true),
             Case(name: "mask 32 KB", tensor: mask, isFloat: false)]

var options = CacheOptions()
options.batchItems = 16
options.batchMilliseconds = 200
let cache = try CacheStore(directory: baseDir + "/cache", options: options)
var failures: [String] = []

for (ci, c) in cases.enumerated() {
    let inputs = (0..<itemCount).map { variant(c.tensor, $0) }
    let keys = (0..<itemCount).map { StageKey(stage: "bench\(ci)", version: 1, parameters: ["item": .int(Int64($0))]) }
    let rawMB = Double(c.tensor.byteCount * itemCount) / 1e6

    // Writes: ours batched (commit every 16 items, fsync per commit), npy one fsync'd file per item.
    let cw0 = cpuSeconds()
    let tw0 = now()
    var encodeNs: UInt64 = 0
    for i in 0..<itemCount {
        let te = now()
        let p = try cache.prepare(keys[i], outputs: ["out": inputs[i]])
        encodeNs += now() - te
        try await cache.put(p)
    }
    try await cache.flush()
    let ourWrite = ms(now() - tw0)
    let ourWriteCPU = cpuSeconds() - cw0
    let npyDir = baseDir + "/npy\(ci)"
    try FileManager.default.createDirectory(atPath: npyDir, withIntermediateDirectories: true)
    let cn0 = cpuSeconds()
    let tn0 = now()
    for i in 0..<itemCount { try Npy.write(inputs[i], to: npyDir + "/item\(i).npy") }
    let npyWrite = ms(now() - tn0)
    let npyWriteCPU = cpuSeconds() - cn0

    // Hit latency: get + verify + decode into a fresh tensor, warm page cache for both; 3 passes interleaved.
    var ours: [Double] = [], npy: [Double] = []
    for pass in 0..<3 {
        for i in 0..<itemCount {
            let t0 = now()
            guard let hit = try cache.fetch(keys[i].digest, stage: "bench\(ci)") else { fatalError("lost \(i)") }
            let t1 = now()
            if pass == 0 && !hit.outputs["out"]!.isBitwiseEqual(to: inputs[i]) { fatalError("hit differs from miss at \(i)") }
            if c.isFloat {
                let t2 = now()
                let r = try Npy.readFloats(npyDir + "/item\(i).npy")
                let t3 = now()
                precondition(r.values.count == c.tensor.count)
                if pass > 0 { npy.append(ms(t3 - t2)) }
            }
            if pass > 0 { ours.append(ms(t1 - t0)) }
        }
    }
    let o = summarize(ours)
    print("\(c.name)")
    print("  put CPU: \(f(ourWriteCPU * 1000 / Double(itemCount), 2)) ms per item (\(f(rawMB / ourWriteCPU, 0)) MB per CPU-second, both cores count)   npy write CPU: \(f(npyWriteCPU * 1000 / Double(itemCount), 2)) ms per item")
    print("  put (batched, commit+fsync per 16): \(f(rawMB / (ourWrite / 1000), 1)) MB/s raw (encode \(f(ms(encodeNs) / Double(itemCount), 2)) ms/item)   npy write+fsync: \(f(rawMB / (npyWrite / 1000), 1)) MB/s   throughput ours/npy \(f(npyWrite / ourWrite))")
    if c.isFloat {
        let n = summarize(npy)
        print("  hit get+verify+decode: median \(f(o.median, 3)) ms  p90 \(f(o.p90, 3)) ms   npy read: median \(f(n.median, 3)) ms  p90 \(f(n.p90, 3)) ms   latency ours/npy \(f(o.median / n.median))")
        if ci == 0 {
            if o.median > 10 { failures.append("hit latency median \(f(o.median)) ms > 10 ms") }
            if o.median > n.median { failures.append("hit latency \(f(o.median, 3)) ms slower than npy \(f(n.median, 3)) ms") }
            if rawMB / (ourWrite / 1000) < 200 { failures.append("write throughput \(f(rawMB / (ourWrite / 1000), 1)) MB/s < 200 MB/s") }
        }
    } else {
        print("  hit get+verify+decode: median \(f(o.median, 3)) ms  p90 \(f(o.p90, 3)) ms")
    }
}
let stats = try cache.statistics()
print("")
print("cache: \(stats.records) records, \(stats.blobs) blobs, stored \(f(Double(stats.blobStoredBytes) / 1e6, 1)) MB of \(f(Double(stats.blobRawBytes) / 1e6, 1)) MB raw, data.mdb \(f(Double(stats.fileBytes) / 1e6, 1)) MB")
try await cache.flushAndClose()
print("load average at end: \(loadAverage())")
print(failures.isEmpty ? "targets: all met (hit ≤ 10 ms and ≤ npy; put ≥ 200 MB/s)" : "targets NOT met: " + failures.joined(separator: "; "))

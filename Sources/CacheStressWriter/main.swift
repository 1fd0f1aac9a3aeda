// A child process for the StageCache crash and concurrency tests: writes batched records (and a
// done-record per item) into a cache and prints one line per committed record *after* the commit
// returned, so a parent that SIGKILLs it knows exactly what must have survived.
//
// usage: CacheStressWriter DIR SEED COUNT [INITIAL_MAP_BYTES]
import Foundation
import StageCache

let args = CommandLine.arguments
guard args.count >= 4, let seed = Int64(args[2]), let count = Int(args[3]) else {
    FileHandle.standardError.write(Data("usage: CacheStressWriter DIR SEED COUNT [INITIAL_MAP_BYTES]\n".utf8))
    exit(2)
}
var options = CacheOptions()
options.initialMapSize = args.count > 4 ? Int(args[4]) ?? (1 << 20) : 1 << 20
options.batchItems = 8
options.batchMilliseconds = 5
options.onCommit = { report in
    // One write(2) per commit: the parent reads whole lines only.
    var text = ""
    for r in report.records { text += "committed \(r.hex)\n" }
    for d in report.doneItems { text += "done \(d.run) \(d.item)\n" }
    FileHandle.standardOutput.write(Data(text.utf8))
}

do {
    let cache = try CacheStore(directory: args[1], options: options)
    var rng = SplitMix64(seed: UInt64(bitPattern: seed))
    for i in 0..<count {
        let n = 8192 + Int(rng.next() % 8192)
        let values = (0..<n).map { _ in Float(Int64(bitPattern: rng.next() >> 11)) / Float(1 << 52) }
        let mask = (0..<4096).map { _ in rng.next() & 1 == 1 }
        let key = StageKey(stage: "stress", version: 1, parameters: ["seed": .int(seed), "i": .int(Int64(i))])
        let record = try cache.prepare(key, outputs: ["features": CacheTensor(shape: [n], floats: values),
                                                      "mask": CacheTensor(shape: [64, 64], mask: mask)],
                                       speed: SpeedMetadata(threads: 1, computeSeconds: 0.001))
        try await cache.complete(run: "stress-\(seed)", item: String(i), records: [record],
                                 outputs: record.outputDigests)
    }
    try await cache.flushAndClose()
    FileHandle.standardOutput.write(Data("finished\n".utf8))
} catch {
    FileHandle.standardError.write(Data("CacheStressWriter: \(error)\n".utf8))
    exit(1)
}

struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

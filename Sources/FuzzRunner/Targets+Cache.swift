import Foundation
import StageCache

// Fuzz targets for the LMDB cache file (data.mdb mutated, then opened, verified and read).
extension FuzzTarget {
    static let cacheTargets: [FuzzTarget] = [
        FuzzTarget(name: "lmdb") { input, scratch in try LMDBFileTarget.run(input, scratch: scratch) },
    ]
}

/// One mutated data.mdb as a cache: written to SCRATCH/c/data.mdb (a fresh folder, no lock.mdb),
/// opened read-only through the public API, verified, summarised and looked up in, then closed.
/// The seeds (Tests/FuzzCorpus/lmdb) are CacheStressWriter caches of seeds 7 and 8, so the keys
/// below hit when the structure survives a mutation and the digests catch any changed value.
enum LMDBFileTarget {
    static func run(_ input: [UInt8], scratch: String) throws {
        let folder = scratch + "/c"
        try? FileManager.default.removeItem(atPath: folder)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: folder + "/data.mdb", contents: Data(input)) else {
            throw CacheError.invalidArgument("cannot write \(folder)/data.mdb")
        }
        var options = CacheOptions()
        options.access = .readOnly
        options.log = { _ in }  // a lookup that finds a corrupt blob logs it; thousands of lines help nobody
        let store = try CacheStore(directory: folder, options: options)
        defer { store.close() }
        _ = try store.verifyAll()
        _ = try store.statistics()
        for seed in [7, 8] as [Int64] {
            for item in 0..<2 {
                let key = StageKey(stage: "stress", version: 1, parameters: ["seed": .int(seed), "i": .int(Int64(item))])
                _ = store.lookup(key)
                _ = try? store.record(key.digest)
                if let done = try? store.doneRecord(run: "stress-\(seed)", item: String(item)) {
                    for digest in done.outputs.values { _ = try? store.blob(digest) }
                }
            }
            _ = try? store.doneItems(run: "stress-\(seed)")
        }
        _ = try? store.recordKeys(matchingPrefix: "0123456")
    }
}

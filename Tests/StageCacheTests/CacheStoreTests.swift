import CLMDB
import XCTest
@testable import StageCache

final class CacheStoreTests: XCTestCase {
    func key(_ stage: String, _ i: Int, alpha: Double = 0.5) -> StageKey {
        StageKey(stage: stage, version: 1, parameters: ["item": .int(Int64(i)), "alpha": .float(alpha)])
    }

    func testPutLookupAndHitMissCounters() async throws {
        let dir = try temporaryDirectory(self)
        let cache = try CacheStore(directory: dir, options: testOptions())
        let features = featureTensor(channels: 8, height: 64, width: 64, seed: 1)
        let mask = CacheTensor(shape: [32, 32], mask: (0..<1024).map { $0 % 3 == 0 })
        let k = key("sam2_features", 1)
        XCTAssertNil(cache.lookup(k))
        let prepared = try await cache.store(k, outputs: ["feat": features, "mask": mask],
                                             speed: SpeedMetadata(threads: 2, batchSize: 4, computeSeconds: 1.25))
        try await cache.flush()
        let hit = try XCTUnwrap(cache.lookup(k))
        XCTAssertTrue(hit.outputs["feat"]!.isBitwiseEqual(to: features))
        XCTAssertEqual(hit.outputs["mask"]!.mask!, mask.mask!)
        XCTAssertEqual(hit.record.speed, SpeedMetadata(threads: 2, batchSize: 4, computeSeconds: 1.25))
        XCTAssertEqual(hit.record.stage, "sam2_features")
        XCTAssertEqual(try StageKey(preimage: hit.record.preimage), k)
        XCTAssertEqual(prepared.outputDigests["feat"], BlobDigest.of(features))
        XCTAssertEqual(hit.record.output("feat")!.rawBytes, features.byteCount)
        _ = cache.lookup(k)
        XCTAssertNil(cache.lookup(key("sam2_features", 2)))
        try await cache.flush()
        let stats = try cache.statistics()
        let stage = try XCTUnwrap(stats.stages.first { $0.stage == "sam2_features" })
        XCTAssertEqual(stage.records, 1)
        XCTAssertEqual(stage.hits, 2)
        XCTAssertEqual(stage.misses, 2)
        XCTAssertEqual(stage.rawBytes, features.byteCount + 1024)
        XCTAssertEqual(Double(stage.storedBytes), stage.meanStoredBytesPerRecord)
        try await cache.flushAndClose()
        // Counters are persistent: a new process (here: a reopen) sees them.
        let reopened = try CacheStore(directory: dir, options: testOptions())
        defer { reopened.close() }
        XCTAssertEqual(try reopened.statistics().stages.first { $0.stage == "sam2_features" }?.hits, 2)
        XCTAssertGreaterThan(try reopened.record(k.digest)!.lastUsedAt, hit.record.createdAt - 1)
    }

    func testRetuneWithSameBytesCostsOnlyARecord() async throws {
        let dir = try temporaryDirectory(self)
        let cache = try CacheStore(directory: dir, options: testOptions())
        defer { cache.close() }
        let t = featureTensor(channels: 16, height: 64, width: 64, seed: 2)
        try await cache.store(key("imr", 1, alpha: 0.5), outputs: ["out": t])
        try await cache.flush()
        let before = try cache.statistics()
        try await cache.store(key("imr", 1, alpha: 0.75), outputs: ["out": t], speed: SpeedMetadata(threads: 8))
        try await cache.flush()
        let after = try cache.statistics()
        XCTAssertEqual(after.records, before.records + 1)
        XCTAssertEqual(after.blobs, before.blobs)
        XCTAssertEqual(after.blobStoredBytes, before.blobStoredBytes)
        // Threads are not in the key.
        XCTAssertEqual(try cache.record(key("imr", 1, alpha: 0.75).digest)?.speed.threads, 8)
    }

    func testCompletionRecordsAreAtomicWithOutputs() async throws {
        let dir = try temporaryDirectory(self)
        var options = testOptions()
        options.batchItems = 1000  // only an explicit flush commits
        options.batchMilliseconds = 60_000
        let cache = try CacheStore(directory: dir, options: options)
        defer { cache.close() }
        for i in 0..<2500 {
            let p = try cache.prepare(key("decode_mask", i), outputs: ["logits": CacheTensor(shape: [4], floats: [Float(i), 1, 2, 3])])
            try await cache.complete(run: "run-A", item: String(format: "img%05d", i), records: [p], outputs: p.outputDigests)
        }
        try await cache.complete(run: "run-A", item: "broken.png", records: [], outputs: [:], status: .failed, message: "bad PNG header")
        try await cache.complete(run: "run-B", item: "x", records: [], outputs: [:])
        // The writer batches 1000 items; after 2500 some are committed, the rest wait for flush.
        // Whatever is done must have its record.
        for item in try cache.doneItems(run: "run-A") where item.hasPrefix("img") {
            XCTAssertNotNil(try cache.record(key("decode_mask", Int(item.dropFirst(3))!).digest))
        }
        try await cache.flush()
        XCTAssertTrue(try cache.isDone(run: "run-A", item: "img00042"))
        XCTAssertFalse(try cache.isDone(run: "run-A", item: "img99999"))
        XCTAssertFalse(try cache.isDone(run: "run-C", item: "img00042"))
        var seen: [String] = []
        try cache.forEachDone(run: "run-A", pageSize: 100) { seen.append($0.item) }
        XCTAssertEqual(seen.count, 2501)
        XCTAssertEqual(seen, seen.sorted())
        XCTAssertEqual(try cache.doneRecord(run: "run-A", item: "broken.png")?.status, .failed)
        XCTAssertEqual(try cache.doneItems(run: "run-B"), ["x"])
        let done = try XCTUnwrap(try cache.doneRecord(run: "run-A", item: "img00007"))
        XCTAssertEqual(try cache.blob(done.outputs["logits"]!)?.floats, [7, 1, 2, 3])
        XCTAssertThrowsError(try cache.isDone(run: "a\u{0}b", item: "c"))
    }

    func testMapGrowsFromTinyToTensOfMegabytes() async throws {
        let dir = try temporaryDirectory(self)
        let cache = try CacheStore(directory: dir, options: testOptions(initialMap: 64 << 10))
        defer { cache.close() }
        XCTAssertEqual(cache.mapSize, 64 << 10)
        var rng = TestRNG(4)
        var keys: [(StageKey, [Float])] = []
        for i in 0..<40 {  // 40 × 1 MiB of incompressible noise
            let v = (0..<262_144).map { _ in rng.gaussian() }
            let k = key("dino_features", i)
            try await cache.store(k, outputs: ["f": CacheTensor(shape: [512, 512], floats: v)])
            keys.append((k, v))
        }
        try await cache.flush()
        XCTAssertGreaterThanOrEqual(cache.mapSize, 40 << 20)
        for (k, v) in keys { XCTAssertEqual(cache.lookup(k)?.outputs["f"]?.floats, v) }
        XCTAssertTrue(try cache.verifyAll().isClean)
    }

    func testNewerFormatIsRefusedAndDoubleOpenIsAnError() async throws {
        let dir = try temporaryDirectory(self)
        let cache = try CacheStore(directory: dir, options: testOptions())
        XCTAssertThrowsError(try CacheStore(directory: dir, options: testOptions())) {
            XCTAssertTrue("\($0)".contains("already open"), "\($0)")
        }
        try cache.environment.write { txn in
            var w = ByteWriter(); w.u32(CacheStore.formatVersion + 1)
            try txn.put(.meta, Array("format".utf8), w.bytes)
        }
        cache.close()
        XCTAssertThrowsError(try CacheStore(directory: dir, options: testOptions())) { error in
            XCTAssertTrue("\(error)".contains("format version 2") && "\(error)".contains(dir), "\(error)")
        }
    }

    /// Flips one byte of a stored blob with a raw LMDB write.
    func corruptBlob(_ cache: CacheStore, _ digest: Digest, at position: (Int) -> Int) throws {
        try cache.environment.write { txn in
            var bytes = Array(try XCTUnwrap(try txn.get(.blobs, digest.bytes)))
            bytes[position(bytes.count)] ^= 0x01
            try txn.put(.blobs, digest.bytes, bytes)
        }
    }

    func testFlippedByteIsDetectedOnReadAndByVerify() async throws {
        let dir = try temporaryDirectory(self)
        let log = LogSink()
        let cache = try CacheStore(directory: dir, options: testOptions(log: log))
        defer { cache.close() }
        var rng = TestRNG(6)
        // Random bytes are stored uncompressed: a flipped byte decodes fine and only the digest catches it.
        let noise = CacheTensor(bytes: (0..<100_000).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
        let smooth = featureTensor(channels: 4, height: 64, width: 64, seed: 8)
        let k1 = key("scma", 1), k2 = key("scma", 2)
        let p1 = try await cache.store(k1, outputs: ["fused": noise])
        let p2 = try await cache.store(k2, outputs: ["fused": smooth])
        try await cache.flush()
        XCTAssertTrue(try cache.verifyAll().isClean)
        try corruptBlob(cache, p1.outputDigests["fused"]!) { $0 - 100 }
        // A compressed chunk: zstd or the digest catches it.
        try corruptBlob(cache, p2.outputDigests["fused"]!) { $0 - 10 }
        XCTAssertNil(cache.lookup(k1), "a corrupt blob is a miss, never data")
        XCTAssertNil(cache.lookup(k2))
        XCTAssertTrue(log.all.contains { $0.contains(p1.outputDigests["fused"]!.hex) && $0.contains("scma") }, "\(log.all)")
        XCTAssertThrowsError(try cache.fetch(k1.digest)) { error in
            guard case CacheError.digestMismatch(let d, _, let stage) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(d, p1.outputDigests["fused"]); XCTAssertEqual(stage, "scma")
        }
        XCTAssertThrowsError(try cache.blob(p2.outputDigests["fused"]!))
        let report = try cache.verifyAll()
        XCTAssertEqual(report.problems.count, 2, "\(report.problems)")
        XCTAssertTrue(report.problems.contains { $0.contains(p1.outputDigests["fused"]!.hex) })
        // The caller recomputes and stores again: the bad blob is replaced, not deduplicated.
        try await cache.store(k1, outputs: ["fused": noise])
        try await cache.flush()
        XCTAssertTrue(cache.lookup(k1)!.outputs["fused"]!.isBitwiseEqual(to: noise))
        XCTAssertEqual(try cache.verifyAll().problems.count, 1)
        XCTAssertEqual(try cache.statistics().stages.first { $0.stage == "scma" }?.corrupt, 3)
    }

    func testGarbageCollectionBySizeBudgetRemovesLeastRecentlyUsed() async throws {
        let dir = try temporaryDirectory(self)
        let cache = try CacheStore(directory: dir, options: testOptions())
        defer { cache.close() }
        var rng = TestRNG(10)
        var stored: [(StageKey, Digest)] = []
        for i in 0..<10 {  // 10 × 40 KB of noise: stored ≈ raw
            let t = CacheTensor(shape: [10_000], floats: (0..<10_000).map { _ in rng.gaussian() })
            let p = try await cache.store(key("memory_encode", i), outputs: ["m": t])
            stored.append((key("memory_encode", i), p.outputDigests["m"]!))
            try await cache.flush()
        }
        // A done-record pins item 0's blob even after its record goes.
        try await cache.complete(run: "keep", item: "0", records: [], outputs: ["m": stored[0].1])
        // Touch 2 and 5 so they become the most recently used.
        usleep(20_000)
        XCTAssertNotNil(cache.lookup(stored[2].0)); XCTAssertNotNil(cache.lookup(stored[5].0))
        try await cache.flush()
        let before = try cache.statistics()
        let perBlob = before.blobStoredBytes / 10
        let budget = perBlob * 5 + perBlob / 2
        let report = try await cache.collectGarbage(.sizeBudget(budget))
        XCTAssertLessThanOrEqual(report.blobBytesAfter, budget)
        XCTAssertEqual(report.recordsRemoved, 6)
        let alive = stored.indices.filter { (try? cache.record(stored[$0].0.digest)) != nil }
        // Record 0 is the least recently used but its blob is pinned, so removing it frees nothing:
        // 0,1,3,4,6,7 go (blob 0 stays: 5 blobs fit), 8, 9 and the touched 2, 5 survive.
        XCTAssertEqual(alive, [2, 5, 8, 9])
        XCTAssertTrue(try cache.containsBlob(stored[0].1), "a done-record keeps its outputs alive")
        for i in [1, 3, 4, 6, 7] { XCTAssertFalse(try cache.containsBlob(stored[i].1)) }
        XCTAssertTrue(try cache.verifyAll().isClean, "no dangling record")
        // Dropping the run releases the pinned blob.
        let dropped = try await cache.collectGarbage(.unusedSince(0), dropRuns: ["keep"])
        XCTAssertEqual(dropped.doneRecordsRemoved, 1)
        XCTAssertFalse(try cache.containsBlob(stored[0].1))
        XCTAssertEqual(try cache.statistics().blobs, 4)
    }

    func testGarbageCollectionByAge() async throws {
        let dir = try temporaryDirectory(self)
        let cache = try CacheStore(directory: dir, options: testOptions())
        defer { cache.close() }
        let shared = CacheTensor(shape: [3], floats: [1, 2, 3])
        try await cache.store(key("priors", 0), outputs: ["p": shared])
        try await cache.store(key("priors", 1), outputs: ["p": CacheTensor(shape: [1], floats: [9])])
        try await cache.flush()
        usleep(20_000)
        let cutoff = Clock.now()
        try await cache.store(key("priors", 2), outputs: ["p": shared])  // newer record sharing a blob
        try await cache.flush()
        let report = try await cache.collectGarbage(.unusedSince(cutoff))
        XCTAssertEqual(report.recordsRemoved, 2)
        XCTAssertEqual(report.blobsRemoved, 1)
        XCTAssertNotNil(cache.lookup(key("priors", 2)))
        XCTAssertTrue(try cache.verifyAll().isClean)
    }

    func testCompactedCopyIsSmallerAndVerifies() async throws {
        let dir = try temporaryDirectory(self)
        let cache = try CacheStore(directory: dir, options: testOptions())
        defer { cache.close() }
        for i in 0..<30 { try await cache.store(key("dino_features", i), outputs: ["f": featureTensor(channels: 4, height: 32, width: 64, seed: UInt64(i))]) }
        try await cache.flush()
        _ = try await cache.collectGarbage(.sizeBudget(0))
        for i in 30..<33 { try await cache.store(key("dino_features", i), outputs: ["f": featureTensor(channels: 4, height: 32, width: 64, seed: UInt64(i))]) }
        let copyDir = (dir as NSString).deletingLastPathComponent + "/copy"
        try await cache.copyCompacted(to: copyDir)
        func size(_ d: String) throws -> Int { try FileManager.default.attributesOfItem(atPath: d + "/data.mdb")[.size] as! Int }
        XCTAssertLessThanOrEqual(try size(copyDir), try size(dir))
        XCTAssertLessThan(try size(copyDir), try size(dir), "freed pages are dropped")
        await XCTAssertThrowsAsync(try await cache.copyCompacted(to: copyDir))
        let copy = try CacheStore(directory: copyDir, options: testOptions())
        defer { copy.close() }
        let report = try copy.verifyAll()
        XCTAssertTrue(report.isClean); XCTAssertEqual(report.recordsChecked, 3)
        XCTAssertNotNil(copy.lookup(key("dino_features", 31)))
    }

    func testMdbStatReadsTheCache() async throws {
        let dir = try temporaryDirectory(self)
        let cache = try CacheStore(directory: dir, options: testOptions())
        try await cache.store(key("decode", 0), outputs: ["rgb": CacheTensor(bytes: [1, 2, 3])])
        try await cache.complete(run: "r", item: "i", records: [], outputs: [:])
        try await cache.flush()
        let (status, output) = try runTool("/usr/bin/mdb_stat", ["-a", dir])
        XCTAssertEqual(status, 0, output)
        for db in ["records", "blobs", "done", "meta", "stats"] { XCTAssertTrue(output.contains("Status of \(db)"), output) }
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/lock.mdb"))
        cache.close()
    }
}

func XCTAssertThrowsAsync(_ body: @autoclosure () async throws -> Void, file: StaticString = #filePath, line: UInt = #line) async {
    do { try await body(); XCTFail("expected an error", file: file, line: line) } catch {}
}

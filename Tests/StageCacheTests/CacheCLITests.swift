import Foundation
import XCTest
import FixtureSupport
@testable import StageCache

/// `fssam cache …` end to end: the real binary (built with the test products) on a real cache.
final class CacheCLITests: XCTestCase {
    func testSelfCheckStatsVerifyExplain() async throws {
        let fssam = BuiltProducts.executable("fssam").path
        let (selfStatus, selfOut) = try runTool(fssam, ["cache", "selfcheck", "--json"])
        XCTAssertEqual(selfStatus, 0, selfOut)
        XCTAssertTrue(selfOut.contains("\"ok\" : true"), selfOut)

        let dir = try temporaryDirectory(self)
        let cache = try CacheStore(directory: dir, options: testOptions())
        let key = StageKey(stage: "dino_features", version: 2, weightsDigest: Digest.sha256([7]),
                           parameters: ["size": .int(560)], inputs: ["image": Digest.sha256([8])])
        let p = try await cache.store(key, outputs: ["f": CacheTensor(shape: [2, 3], floats: [1, 2, 3, 4, 5, 6])],
                                      speed: SpeedMetadata(threads: 2, computeSeconds: 5.5))
        try await cache.flushAndClose()

        let (statsStatus, stats) = try runTool(fssam, ["cache", "stats", "--cache", dir])
        XCTAssertEqual(statsStatus, 0, stats)
        XCTAssertTrue(stats.contains("dino_features"), stats)
        let (jsonStatus, json) = try runTool(fssam, ["cache", "stats", "--cache", dir, "--json"])
        XCTAssertEqual(jsonStatus, 0)
        let decoded = try JSONDecoder().decode(CacheStatistics.self, from: Data(json.utf8))
        XCTAssertEqual(decoded.records, 1)

        let (explainStatus, explain) = try runTool(fssam, ["cache", "explain", String(key.digest.hex.prefix(10)), "--cache", dir])
        XCTAssertEqual(explainStatus, 0, explain)
        for fragment in ["stage:    dino_features", "version:  2", "size = 560", Digest.sha256([8]).hex, "5.500 s on 2 thread"] {
            XCTAssertTrue(explain.contains(fragment), "missing \(fragment) in\n\(explain)")
        }
        let (missingStatus, missing) = try runTool(fssam, ["cache", "explain", String(repeating: "0", count: 64), "--cache", dir])
        XCTAssertNotEqual(missingStatus, 0)
        XCTAssertTrue(missing.contains("no record") && missing.contains(dir), missing)

        let (okStatus, _) = try runTool(fssam, ["cache", "verify", "--cache", dir])
        XCTAssertEqual(okStatus, 0)
        // Corrupt the blob, then verify must fail and name it.
        let reopened = try CacheStore(directory: dir, options: testOptions())
        let digest = p.outputDigests["f"]!
        try reopened.environment.write { txn in
            var b = Array(try XCTUnwrap(try txn.get(.blobs, digest.bytes)))
            b[b.count - 1] ^= 0xff
            try txn.put(.blobs, digest.bytes, b)
        }
        reopened.close()
        let (badStatus, bad) = try runTool(fssam, ["cache", "verify", "--cache", dir])
        XCTAssertEqual(badStatus, 1, bad)
        XCTAssertTrue(bad.contains(digest.hex), bad)
    }
}

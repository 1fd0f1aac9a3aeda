import Foundation
import XCTest
import FixtureSupport
@testable import StageCache

/// SIGKILL `fssam cache gc` and `fssam cache copy` at moments spread over their run: the cache
/// (gc's source, copy's destination) opens and verifies clean afterwards, a rerun completes, and a
/// copy's destination is never half-written (it appears whole, by rename, or not at all).
final class CacheKillTests: XCTestCase {
    static let moments = 6

    /// Runs `fssam ARGS`, SIGKILLs it after `delay` seconds; true when the kill landed (it was still running).
    func killed(_ arguments: [String], after delay: TimeInterval) throws -> Bool {
        let process = Process()
        process.executableURL = CacheProcess.fssam
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        usleep(useconds_t(delay * 1e6))
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        return process.terminationReason == .uncaughtSignal
    }

    /// How long a whole run of `arguments` takes (on a throwaway copy), to spread the kills over.
    func duration(_ arguments: [String]) throws -> TimeInterval {
        let start = Date()
        let result = try CacheProcess.run(arguments)
        XCTAssertTrue(result.isOrderly && result.status == 0, result.description)
        return Date().timeIntervalSince(start)
    }

    func testKillingGarbageCollectionLeavesAVerifiableCache() throws {
        let source = try CacheProcess.makeCache(try temporaryDirectory(self, "source"), items: 200)
        let probe = try temporaryDirectory(self, "probe")
        try CacheProcess.copy(source, to: probe)
        let gc = ["cache", "gc", "--budget", "2M", "--drop-run", "stress-7"]
        let whole = try duration(gc + ["--cache", probe])
        var landed = 0
        for moment in 0..<Self.moments {
            let cache = try temporaryDirectory(self, "gc-\(moment)")
            try CacheProcess.copy(source, to: cache)
            if try killed(gc + ["--cache", cache], after: whole * (Double(moment) + 0.5) / Double(Self.moments)) { landed += 1 }
            try assertVerifiesClean(cache, "after killing gc at moment \(moment)")
            let rerun = try CacheProcess.run(gc + ["--cache", cache])
            XCTAssertTrue(rerun.isOrderly && rerun.status == 0, "rerun after moment \(moment): \(rerun.description)")
            try assertVerifiesClean(cache, "after the rerun at moment \(moment)")
        }
        XCTAssertGreaterThanOrEqual(landed, 3, "most kills landed while gc ran (a whole gc took \(whole) s)")
    }

    func testKillingACopyNeverLeavesAHalfWrittenDestination() throws {
        let source = try CacheProcess.makeCache(try temporaryDirectory(self, "source"), items: 300)
        let parent = (try temporaryDirectory(self, "copies") as NSString).deletingLastPathComponent + "/copies"
        let whole = try duration(["cache", "copy", "--cache", source, parent + "/probe"])
        var landed = 0
        for moment in 0..<Self.moments {
            let destination = parent + "/copy-\(moment)"
            if try killed(["cache", "copy", "--cache", source, destination],
                          after: whole * (Double(moment) + 0.5) / Double(Self.moments)) { landed += 1 }
            // Whole or absent, never partial.
            if FileManager.default.fileExists(atPath: destination) {
                try assertVerifiesClean(destination, "a copy killed at moment \(moment) left a destination: it must be whole")
                continue
            }
            let again = try CacheProcess.run(["cache", "copy", "--cache", source, destination])
            XCTAssertTrue(again.isOrderly && again.status == 0, "second copy after moment \(moment): \(again.description)")
            try assertVerifiesClean(destination, "second copy after moment \(moment)")
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: parent).filter { $0.hasPrefix(".copy-\(moment).") }
            XCTAssertEqual(leftovers, [], "the killed copy's temporary folder was removed by the next copy")
        }
        XCTAssertGreaterThanOrEqual(landed, 3, "most kills landed while the copy ran (a whole copy took \(whole) s)")
    }

    /// A temporary folder left by a killed copy (its process gone) does not block the next copy,
    /// and a destination that already holds a cache is refused in words.
    func testAnAbandonedTemporaryIsRemovedAndAnExistingCacheRefused() throws {
        let source = try CacheProcess.makeCache(try temporaryDirectory(self, "source"), items: 5)
        let parent = (try temporaryDirectory(self, "dest") as NSString).deletingLastPathComponent
        let abandoned = parent + "/.copy.fssam-copy-999999"
        try FileManager.default.createDirectory(atPath: abandoned, withIntermediateDirectories: true)
        try Data(count: 8192).write(to: URL(fileURLWithPath: abandoned + "/data.mdb"))
        let first = try CacheProcess.run(["cache", "copy", "--cache", source, parent + "/copy"])
        XCTAssertTrue(first.isOrderly && first.status == 0, first.description)
        XCTAssertFalse(FileManager.default.fileExists(atPath: abandoned))
        try assertVerifiesClean(parent + "/copy")
        let second = try CacheProcess.run(["cache", "copy", "--cache", source, parent + "/copy"])
        assertOrderlyFailure(second, mentions: ["copy destination \(parent)/copy already holds a cache"], "second copy")
    }
}

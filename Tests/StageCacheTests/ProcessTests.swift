import Foundation
import XCTest
@testable import StageCache

/// Real child processes writing real LMDB files: SIGKILL mid-batch, and two concurrent writers.
final class ProcessTests: XCTestCase {
    /// The stress writer is built next to this test bundle (StageCacheTests depends on it).
    func stressWriterPath() throws -> String {
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [here, here.deletingLastPathComponent(), Bundle.main.bundleURL.deletingLastPathComponent()]
            .map { $0.appendingPathComponent("CacheStressWriter").path }
        guard let path = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw CacheError.invalidArgument("CacheStressWriter executable not found in \(candidates)")
        }
        return path
    }

    func launch(_ dir: String, seed: Int, count: Int) throws -> (Process, Pipe) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try stressWriterPath())
        p.arguments = [dir, String(seed), String(count), String(1 << 20)]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        return (p, out)
    }

    struct ChildReport { var committed: Set<Digest> = []; var done: [(String, String)] = []; var finished = false }

    /// Complete lines only: a line cut by the kill is ignored.
    func parse(_ data: Data) -> ChildReport {
        var r = ChildReport()
        let text = String(decoding: data, as: UTF8.self)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if !text.hasSuffix("\n") { lines.removeLast() }
        for line in lines {
            let parts = line.split(separator: " ")
            if parts.first == "committed", parts.count == 2 { r.committed.insert(Digest(hex: String(parts[1]))!) }
            if parts.first == "done", parts.count == 3 { r.done.append((String(parts[1]), String(parts[2]))) }
            if line == "finished" { r.finished = true }
        }
        return r
    }

    func checkSurvivors(_ dir: String, _ report: ChildReport, file: StaticString = #filePath, line: UInt = #line) throws {
        let cache = try CacheStore(directory: dir, options: testOptions())
        defer { cache.close() }
        for k in report.committed {
            let hit = try cache.fetch(k)
            XCTAssertNotNil(hit, "record \(k.hex) reported committed is missing", file: file, line: line)
        }
        for (run, item) in report.done {
            XCTAssertTrue(try cache.isDone(run: run, item: item), "done \(run)/\(item) lost", file: file, line: line)
        }
        let verify = try cache.verifyAll()
        XCTAssertTrue(verify.isClean, "\(verify.problems)", file: file, line: line)
        // Every record present has its blobs (verifyAll checks), and every done item its record.
        XCTAssertEqual(verify.doneRecordsChecked, verify.recordsChecked, "one done-record per record, same txn", file: file, line: line)
    }

    func testSigkillDuringBatchedWritesNeverLosesOrTearsARecord() throws {
        let dir = try temporaryDirectory(self)
        var rng = TestRNG(UInt64(Date().timeIntervalSince1970 * 1000))
        var totalCommitted = 0
        var killedMidway = 0
        for round in 0..<20 {
            let (child, out) = try launch(dir, seed: round, count: 100_000)
            let delay = 50_000 + Int(rng.next() % 500_000)  // 50–550 ms: from before the first commit to mid-stream
            usleep(UInt32(delay))
            kill(child.processIdentifier, SIGKILL)
            let data = out.fileHandleForReading.readDataToEndOfFile()
            child.waitUntilExit()
            XCTAssertEqual(child.terminationReason, .uncaughtSignal, "round \(round)")
            let report = parse(data)
            if !report.finished { killedMidway += 1 }
            totalCommitted += report.committed.count
            try checkSurvivors(dir, report)
        }
        XCTAssertEqual(killedMidway, 20)
        XCTAssertGreaterThan(totalCommitted, 20, "the children committed work before being killed")
        let cache = try CacheStore(directory: dir, options: testOptions())
        defer { cache.close() }
        XCTAssertGreaterThanOrEqual(try cache.statistics().records, totalCommitted)
    }

    func testTwoProcessesWritingConcurrently() throws {
        let dir = try temporaryDirectory(self)
        let (a, outA) = try launch(dir, seed: 1001, count: 400)
        let (b, outB) = try launch(dir, seed: 2002, count: 400)
        let dataA = outA.fileHandleForReading.readDataToEndOfFile()
        let dataB = outB.fileHandleForReading.readDataToEndOfFile()
        a.waitUntilExit(); b.waitUntilExit()
        XCTAssertEqual(a.terminationStatus, 0); XCTAssertEqual(b.terminationStatus, 0)
        let ra = parse(dataA), rb = parse(dataB)
        XCTAssertTrue(ra.finished && rb.finished)
        XCTAssertEqual(ra.committed.count, 400); XCTAssertEqual(rb.committed.count, 400)
        try checkSurvivors(dir, ra)
        try checkSurvivors(dir, rb)
        let cache = try CacheStore(directory: dir, options: testOptions())
        defer { cache.close() }
        XCTAssertEqual(try cache.statistics().records, 800)
        XCTAssertEqual(try cache.doneItems(run: "stress-1001").count, 400)
        XCTAssertEqual(try cache.doneItems(run: "stress-2002").count, 400)
        XCTAssertGreaterThan(cache.mapSize, 1 << 20, "the map grew (in one process, adopted by the other)")
    }
}

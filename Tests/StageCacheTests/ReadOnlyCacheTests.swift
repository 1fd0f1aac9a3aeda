import Foundation
import XCTest
import FixtureSupport
@testable import StageCache

/// A cache this user cannot write (folder 555, files 444, another owner): the commands that only
/// read work (MDB_RDONLY, and MDB_NOLOCK since lock.mdb cannot be written); a command that must
/// write says the cache is read-only and what to do. Before, a failed open crashed (double free)
/// or hung (deinit waiting on a freed lock).
final class ReadOnlyCacheTests: XCTestCase {
    /// A cache under /tmp with 755 parents, owned by root, read-only for everyone, and the
    /// `setpriv` prefix that runs a command as `nobody`.
    func readOnlyCacheForNobody() throws -> (cache: String, asNobody: [String]) {
        guard getuid() == 0 else { throw XCTSkip("needs root to run commands as nobody (setpriv); running as uid \(getuid())") }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else {
            throw XCTSkip("setpriv (util-linux) is not installed")
        }
        let root = "/tmp/fssam-readonly-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        addTeardownBlock {
            _ = try? runProcess(URL(fileURLWithPath: "/bin/chmod"), ["-R", "u+w", root], timeout: 30)
            try? FileManager.default.removeItem(atPath: root)
        }
        let cache = try CacheProcess.makeCache(root + "/cache", items: 20)
        for file in ["data.mdb", "lock.mdb"] {
            try FileManager.default.setAttributes([.posixPermissions: 0o444], ofItemAtPath: cache + "/" + file)
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: cache)
        // A copy of the binary where nobody may run it: the checkout may lie under a folder only root can enter.
        let binary = root + "/fssam"
        try FileManager.default.copyItem(atPath: CacheProcess.fssam.path, toPath: binary)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: binary)
        return (cache, ["--reuid=nobody", "--regid=nogroup", "--clear-groups", binary])
    }

    func asNobody(_ prefix: [String], _ arguments: [String]) throws -> ProcessResult {
        try runProcess(URL(fileURLWithPath: "/usr/bin/setpriv"), prefix + arguments, timeout: 60)
    }

    func testReadingCommandsWorkAndWritingCommandsSayReadOnly() throws {
        let (cache, nobody) = try readOnlyCacheForNobody()
        let stats = try asNobody(nobody, ["cache", "stats", "--cache", cache, "--json"])
        XCTAssertTrue(stats.isOrderly && stats.status == 0, stats.description)
        XCTAssertEqual(try JSONDecoder().decode(CacheStatistics.self, from: Data(stats.stdout.utf8)).records, 20)
        let verify = try asNobody(nobody, ["cache", "verify", "--cache", cache])
        XCTAssertTrue(verify.isOrderly && verify.status == 0, verify.description)
        XCTAssertTrue(verify.stdout.contains("20 records") && verify.stdout.contains(": OK"), verify.stdout)

        let key = try XCTUnwrap(try firstRecordKey(cache))
        let explain = try asNobody(nobody, ["cache", "explain", String(key.hex.prefix(12)), "--cache", cache])
        XCTAssertTrue(explain.isOrderly && explain.status == 0, explain.description)
        XCTAssertTrue(explain.stdout.contains("stage:    stress"), explain.stdout)

        let gc = try asNobody(nobody, ["cache", "gc", "--budget", "1K", "--cache", cache])
        assertOrderlyFailure(gc, mentions: ["cache \(cache) is read-only", "use --cache with a writable folder or copy it with fssam cache copy"], "gc")
        // A copy of a read-only cache (the way out the message names) works, into a folder nobody may write.
        let writable = (cache as NSString).deletingLastPathComponent + "/writable"
        try FileManager.default.createDirectory(atPath: writable, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o777])
        let copy = try asNobody(nobody, ["cache", "copy", "--cache", cache, writable + "/copy"])
        XCTAssertTrue(copy.isOrderly && copy.status == 0, copy.description)
        let copiedGC = try asNobody(nobody, ["cache", "gc", "--budget", "1K", "--cache", writable + "/copy"])
        XCTAssertTrue(copiedGC.isOrderly && copiedGC.status == 0, copiedGC.description)
    }

    func firstRecordKey(_ cache: String) throws -> Digest? {
        var options = testOptions()
        options.access = .readOnly
        let store = try CacheStore(directory: cache, options: options)
        defer { store.close() }
        var first: Digest?
        try store.environment.scan(.records) { k, _ in if first == nil { first = Digest(bytes: k) } }
        return first
    }

    /// In process: a read-only store reads, refuses to store (naming the folder), and keeps no counters.
    func testAReadOnlyStoreReadsAndRefusesWrites() async throws {
        let directory = try temporaryDirectory(self)
        let writer = try CacheStore(directory: directory, options: testOptions())
        let key = StageKey(stage: "s", version: 1, parameters: ["i": .int(1)])
        try await writer.store(key, outputs: ["x": CacheTensor(shape: [3], floats: [1, 2, 3])])
        try await writer.flushAndClose()

        var options = testOptions()
        options.access = .readOnly
        let reader = try CacheStore(directory: directory, options: options)
        XCTAssertNotNil(reader.lookup(key))
        XCTAssertTrue(try reader.verifyAll().isClean)
        try await reader.flush()  // only counters pending: dropped, not an error
        let other = StageKey(stage: "s", version: 1, parameters: ["i": .int(2)])
        do {
            try await reader.store(other, outputs: ["x": CacheTensor(shape: [1], floats: [4])])
            try await reader.flush()
            XCTFail("a read-only store accepted a write")
        } catch let error as CacheError {
            XCTAssertTrue("\(error)".contains("cache \(reader.directory) is read-only"), "\(error)")
        }
        reader.close()
        // A read-only open of a folder with no cache says so and creates nothing.
        let empty = try temporaryDirectory(self, "empty")
        XCTAssertThrowsError(try CacheStore(directory: empty, options: options)) { error in
            XCTAssertTrue("\(error)".contains("no cache at \(empty)"), "\(error)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: empty), [])
    }
}

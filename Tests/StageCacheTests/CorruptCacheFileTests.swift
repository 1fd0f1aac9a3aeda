import Foundation
import XCTest
import FixtureSupport
@testable import StageCache

/// A corrupt, truncated or foreign data.mdb: every command ends at once with a message naming the
/// file and what to do — no hang (a failed open used to wait forever on a freed lock in deinit)
/// and no SIGBUS (LMDB maps what the meta page claims and reads past the end of a short file).
final class CorruptCacheFileTests: XCTestCase {
    var source: String!

    override func setUpWithError() throws {
        source = try CacheProcess.makeCache(try temporaryDirectory(self, "source"), items: 40)
    }

    /// A copy of the good cache with `damage` applied to its data.mdb.
    func damaged(_ name: String, _ damage: (FileHandle, String) throws -> Void) throws -> String {
        let directory = try temporaryDirectory(self, name)
        try CacheProcess.copy(source, to: directory)
        let file = directory + "/data.mdb"
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: file))
        try damage(handle, file)
        try handle.close()
        return directory
    }

    func assertEveryCommandRefuses(_ directory: String, because reason: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let commands: [[String]] = [["cache", "stats"], ["cache", "verify"], ["cache", "gc", "--budget", "1M"],
                                    ["cache", "explain", "abcdef"], ["cache", "copy", directory + "-copy"]]
        for command in commands {
            let result = try CacheProcess.run(command + ["--cache", directory], timeout: 30)
            assertOrderlyFailure(result, mentions: [directory + "/data.mdb", reason, "move it away or delete the cache folder"],
                                 command.joined(separator: " "), file: file, line: line)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "-copy"), "no copy of a corrupt cache", file: file, line: line)
    }

    func testAFlippedMetaPageByteIsRefusedAtOnce() throws {
        let directory = try damaged("flipped") { handle, _ in
            try handle.seek(toOffset: 16)  // the magic number of meta page 0
            try handle.write(contentsOf: [0xff])
        }
        try assertEveryCommandRefuses(directory, because: "is not a valid LMDB file (meta page 0 has no LMDB magic number)")
    }

    func testZerosOrTextInsteadOfAnLMDBFileAreRefused() throws {
        let zeros = try damaged("zeros") { handle, _ in
            try handle.truncate(atOffset: 0)
            try handle.write(contentsOf: Data(count: 64 << 10))
        }
        try assertEveryCommandRefuses(zeros, because: "page 0 is not a meta page")
        let text = try damaged("text") { handle, _ in
            try handle.truncate(atOffset: 0)
            try handle.write(contentsOf: Data(String(repeating: "this is not a database\n", count: 500).utf8))
        }
        try assertEveryCommandRefuses(text, because: "is not a valid LMDB file")
    }

    func testATruncatedFileIsRefusedInsteadOfMappedPastItsEnd() throws {
        let directory = try damaged("truncated") { handle, _ in try handle.truncate(atOffset: 8192) }
        try assertEveryCommandRefuses(directory, because: "truncated: meta page")
        // Cut anywhere past the meta pages, but short of the last page in use: still refused.
        guard case .valid(let meta) = try LMDBFileCheck.check(dataFile: source + "/data.mdb") else { return XCTFail("source") }
        let needed = Int(meta.lastPage + 1) * meta.pageSize
        let cut = try damaged("cut") { handle, _ in try handle.truncate(atOffset: UInt64(needed - 1)) }
        try assertEveryCommandRefuses(cut, because: "but the file holds \(needed - 1) bytes")
    }

    func testACorruptPageSizeOrLastPageIsRefused() throws {
        let pageSize = try damaged("pagesize") { handle, _ in
            try handle.seek(toOffset: 40)  // dbs[0].pad: the page size
            try handle.write(contentsOf: [0x03, 0x00, 0x00, 0x00])
        }
        try assertEveryCommandRefuses(pageSize, because: "gives a page size of 3 bytes")
        // Both meta pages claim 2^40 pages: far beyond the file.
        let lastPage = try damaged("lastpage") { handle, _ in
            for meta in [0, 4096] as [UInt64] {
                try handle.seek(toOffset: meta + 136)
                try handle.write(contentsOf: [0, 0, 0, 0, 0, 1, 0, 0] as [UInt8])
            }
        }
        try assertEveryCommandRefuses(lastPage, because: "truncated: meta page")
    }

    /// The in-process API says the same, and a failed open leaves nothing behind: the same path
    /// opens again once the file is repaired (no registry entry, no lock held).
    func testAFailedOpenCanBeRetriedInProcess() throws {
        let directory = try damaged("retry") { handle, _ in try handle.truncate(atOffset: 8192) }
        for _ in 0..<3 {
            XCTAssertThrowsError(try CacheStore(directory: directory, options: testOptions())) { error in
                XCTAssertTrue("\(error)".contains("truncated"), "\(error)")
            }
        }
        try FileManager.default.removeItem(atPath: directory + "/data.mdb")
        try FileManager.default.copyItem(atPath: source + "/data.mdb", toPath: directory + "/data.mdb")
        let cache = try CacheStore(directory: directory, options: testOptions())
        XCTAssertEqual(try cache.statistics().records, 40)
        cache.close()
    }
}

/// Damage inside pages: a corrupt page is refused by the page walk (it used to abort in an LMDB
/// assertion or SIGBUS), and a changed byte of a stored value ends in our digest check.
final class CorruptPageTests: XCTestCase {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("FuzzCorpus/lmdb")

    func testFuzzCrashersAreRefusedInWords() throws {
        for name in ["crash-branch-with-one-key-abort.mdb", "crash-main-tree-sigbus-1.mdb", "crash-main-tree-sigbus-2.mdb"] {
            let directory = try temporaryDirectory(self, name)
            try FileManager.default.copyItem(atPath: Self.corpus.appendingPathComponent(name).path, toPath: directory + "/data.mdb")
            for command in [["cache", "stats"], ["cache", "verify"], ["cache", "gc", "--budget", "1M"]] {
                let result = try CacheProcess.run(command + ["--cache", directory], timeout: 30)
                assertOrderlyFailure(result, mentions: [directory + "/data.mdb", "move it away or delete the cache folder"],
                                     "\(name): \(command.joined(separator: " "))")
            }
        }
    }

    func testAChangedValueByteIsCaughtByTheDigest() throws {
        let directory = try CacheProcess.makeCache(try temporaryDirectory(self), items: 3)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: directory + "/data.mdb"))
        let magic = Data("FSBL".utf8)
        let blob = try XCTUnwrap(bytes.range(of: magic), "a blob header in the file")
        bytes[blob.lowerBound + 4096] ^= 0x5a  // inside that blob's payload (blobs here are ≥ 32 KiB)
        try bytes.write(to: URL(fileURLWithPath: directory + "/data.mdb"))
        let verify = try CacheProcess.run(["cache", "verify", "--cache", directory])
        XCTAssertTrue(verify.isOrderly, verify.description)
        XCTAssertEqual(verify.status, 1, verify.stdout)
        XCTAssertTrue(verify.stdout.contains("problem: blob"), verify.stdout)
    }
}

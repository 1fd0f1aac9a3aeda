import Foundation
import XCTest
import FixtureSupport
@testable import StageCache

/// A cache on a full file system: the writer stops with "no space left on device" and the cache's
/// path (LMDB reports a short write as EIO, which used to surface as "Input/output error"), and
/// every record committed before the disk filled is still there and verifies.
final class FullDiskTests: XCTestCase {
    /// A 2 MiB tmpfs, unmounted when the test ends.
    func smallFileSystem() throws -> String {
        guard getuid() == 0 else { throw XCTSkip("mounting a tmpfs needs root (uid \(getuid()))") }
        let mountPoint = try temporaryDirectory(self, "tmpfs")
        let mount = try runProcess(URL(fileURLWithPath: "/bin/mount"), ["-t", "tmpfs", "-o", "size=2m", "tmpfs", mountPoint], timeout: 30)
        guard mount.isOrderly, mount.status == 0 else { throw XCTSkip("cannot mount a tmpfs here: \(mount.description)") }
        addTeardownBlock { _ = try? runProcess(URL(fileURLWithPath: "/bin/umount"), [mountPoint], timeout: 30) }
        return mountPoint
    }

    func testAFullDiskIsNamedAndLosesNothingCommitted() throws {
        let cache = try smallFileSystem() + "/cache"
        // 64 KiB records on 2 MiB: the disk fills within a few dozen commits.
        let result = try runProcess(CacheProcess.stressWriter, [cache, "5", "10000", String(1 << 20)], timeout: 120)
        assertOrderlyFailure(result, mentions: ["no space left on device for cache \(cache)", "bytes free on its file system"], "stress writer")
        let committed = result.stdout.split(separator: "\n").compactMap { line -> Digest? in
            let parts = line.split(separator: " ")
            return parts.count == 2 && parts[0] == "committed" ? Digest(hex: String(parts[1])) : nil
        }
        XCTAssertGreaterThan(committed.count, 5, "records were committed before the disk filled: \(result.stdout.suffix(500))")
        XCTAssertFalse(result.stdout.contains("finished"))

        let store = try CacheStore(directory: cache, options: { var o = testOptions(); o.access = .readOnly; return o }())
        defer { store.close() }
        for key in committed { XCTAssertNotNil(try store.fetch(key), "record \(key.hex) reported committed is lost") }
        let report = try store.verifyAll()
        XCTAssertTrue(report.isClean, "\(report.problems)")
        XCTAssertGreaterThanOrEqual(report.recordsChecked, committed.count)
    }
}

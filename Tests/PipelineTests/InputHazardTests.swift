import Foundation
import XCTest
@testable import Pipeline

/// Inputs that once vanished silently or stopped a run: every entry that looks like an image is
/// an item or one failure, the run's own output folder is never listed, and one bad manifest line
/// (over-long, repeated key) fails alone.
final class InputHazardTests: XCTestCase {
    func temporaryFolder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fssam-hazard-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func write(_ path: String, _ text: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    func testEveryImageNamedEntryIsAnItemOrOneFailure() throws {
        let root = try temporaryFolder()
        try write(root + "/good.png", "x")
        try write(root + "/target.jpg", "x")
        XCTAssertEqual(mkfifo(root + "/pipe.png", 0o600), 0)
        try FileManager.default.createSymbolicLink(atPath: root + "/loop.png", withDestinationPath: root + "/loop.png")
        try FileManager.default.createSymbolicLink(atPath: root + "/dangling.jpg", withDestinationPath: root + "/nowhere.jpg")
        try FileManager.default.createSymbolicLink(atPath: root + "/alias.jpg", withDestinationPath: root + "/target.jpg")
        try FileManager.default.createDirectory(atPath: root + "/folder.png", withIntermediateDirectories: true)
        try write(root + "/folder.png/inside.jpg", "x")
        try write(root + "/notes.txt", "x")  // not named like an image: not an input, no error

        var items: [String] = [], failures: [String: String] = [:]
        for entry in DirectoryListing(root: root) {
            switch entry {
            case .item(let item): items.append(item.id)
            case .failure(let failure): failures[failure.id ?? "?"] = failure.reason
            }
        }
        XCTAssertEqual(items, ["alias.jpg", "folder.png/inside.jpg", "good.png", "target.jpg"])
        XCTAssertEqual(failures["pipe.png"], "is a named pipe (FIFO), not a regular file")
        XCTAssertEqual(failures["loop.png"], "symbolic link loop")
        XCTAssertEqual(failures["dangling.jpg"], "dangling symbolic link (its target does not exist)")
        XCTAssertTrue(failures["folder.png"]?.hasPrefix("is a directory") == true, "\(failures)")
        XCTAssertEqual(failures.count, 4, "\(failures)")
    }

    func testTheOutputAndCacheFoldersAreNeverListedHoweverSpelled() throws {
        let root = try temporaryFolder()
        try write(root + "/a.png", "x")
        try write(root + "/out/masks/a.png", "x")
        try write(root + "/cache/x.png", "x")
        try write(root + "/sub/b.png", "x")
        let previous = FileManager.default.currentDirectoryPath
        FileManager.default.changeCurrentDirectoryPath(root)
        defer { FileManager.default.changeCurrentDirectoryPath(previous) }
        // `--queries . --out ./out --cache cache/`: three spellings of folders inside the queries.
        let ids = DirectoryListing(root: ".", excluding: ["./out", "cache/"]).compactMap { entry -> String? in
            if case .item(let item) = entry { return item.id } else { return nil }
        }
        XCTAssertEqual(ids, ["a.png", "sub/b.png"])
    }

    func testAnOverlongFirstManifestLineFailsAloneAndTheRestGoesOn() throws {
        let root = try temporaryFolder()
        let manifest = root + "/m.jsonl"
        let long = "{\"id\": \"big\", \"path\": \"" + String(repeating: "a", count: 1 << 20) + "\"}"
        try write(manifest, long + "\n{\"id\": \"ok\", \"path\": \"ok.png\"}\n")
        let entries = Array(try ManifestListing(path: manifest))
        XCTAssertEqual(entries.count, 2)
        guard case .failure(let failure) = entries[0], case .item(let item) = entries[1] else { return XCTFail("\(entries)") }
        XCTAssertEqual(failure.description, "\(manifest):1: line longer than 65536 bytes")
        XCTAssertEqual(item.id, "ok")

        // Without an extension to go by, the format is sniffed from the first line that fits.
        let plain = root + "/m.txt"
        try write(plain, long + "\n{\"id\": \"ok\", \"path\": \"ok.png\"}\n")
        XCTAssertEqual(Array(try ManifestListing(path: plain)).count, 2)
    }

    func testARepeatedKeyFailsItsManifestLineWithFileAndLine() throws {
        let root = try temporaryFolder()
        let manifest = root + "/m.jsonl"
        try write(manifest, """
            {"id": "a", "path": "a.png"}
            {"id": "b", "path": "b.png", "path": "/etc/passwd"}
            {"id": "c", "\\u0069d": "d", "path": "c.png"}
            {"id": "e", "path": "e.png", "extra": {"path": 1, "path": 2}}

            """)
        let entries = Array(try ManifestListing(path: manifest))
        let lines = entries.map { entry -> String in
            switch entry {
            case .item(let item): "item \(item.id)"
            case .failure(let failure): failure.description
            }
        }
        XCTAssertEqual(lines, ["item a", "\(manifest):2 (id b): key \"path\" appears twice",
                               "\(manifest):3: key \"id\" appears twice", "item e"])
    }
}

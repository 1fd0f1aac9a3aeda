import Foundation
import XCTest
@testable import Pipeline

/// Folders are listed in item-id byte order, lazily; manifests are read line by line and every bad
/// line becomes an error item naming its line instead of stopping the listing.
final class InputListingTests: XCTestCase {
    func temporaryFolder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fssam-inputs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func touch(_ root: String, _ relative: String, _ contents: String = "x") throws {
        let path = root + "/" + relative
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(contents.utf8).write(to: URL(fileURLWithPath: path))
    }

    func items(_ entries: some Sequence<InputEntry>) -> [InputItem] {
        entries.compactMap { if case .item(let item) = $0 { return item } else { return nil } }
    }

    func failures(_ entries: some Sequence<InputEntry>) -> [InputFailure] {
        entries.compactMap { if case .failure(let failure) = $0 { return failure } else { return nil } }
    }

    // MARK: folders

    func testFolderListingOrderExtensionsAndHiddenFiles() throws {
        let root = try temporaryFolder()
        for name in ["b.jpg", "a/x.PNG", "a-b.jpeg", "a/y/z.tif", "A.webp", "c.TIFF", "d.Jpg",
                     "notes.txt", "noext", "README", ".hidden.jpg", ".cache/inside.jpg", "a/.DS_Store",
                     "e.jpg.bak", "f.gif", "sp ace/ü.png"] {
            try touch(root, name)
        }
        try FileManager.default.createSymbolicLink(atPath: root + "/link.jpg", withDestinationPath: root + "/b.jpg")
        try FileManager.default.createSymbolicLink(atPath: root + "/loop", withDestinationPath: root)  // not followed
        let listed = items(DirectoryListing(root: root + "/"))
        // Byte order of the relative path: 'A' < 'a', '-' < '/', so a-b.jpeg comes before a/x.PNG.
        let expected = ["A.webp", "a-b.jpeg", "a/x.PNG", "a/y/z.tif", "b.jpg", "c.TIFF", "d.Jpg", "link.jpg", "sp ace/ü.png"]
        XCTAssertEqual(listed.map(\.id), expected)
        XCTAssertEqual(listed.map(\.path), expected.map { root + "/" + $0 })
        XCTAssertTrue(listed.allSatisfy { $0.sha256 == nil })
        // A second walk gives the same sequence.
        XCTAssertEqual(items(DirectoryListing(root: root)).map(\.id), expected)
    }

    func testMissingFolderIsOneErrorItem() {
        let entries = Array(DirectoryListing(root: "/nonexistent/fssam-queries"))
        XCTAssertEqual(entries.count, 1)
        let failure = failures(entries).first
        XCTAssertEqual(failure?.source, "/nonexistent/fssam-queries")
        XCTAssertTrue(failure?.reason.hasPrefix("cannot list folder") == true, "\(String(describing: failure))")
    }

    /// 20,000 files in 40 folders: the walk yields them one at a time in id order.
    func testTwentyThousandFilesAreStreamedInOrder() throws {
        let root = try temporaryFolder()
        let empty = Data()
        for folder in 0..<40 {
            let directory = root + "/f\(folder)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for file in 0..<500 {
                XCTAssertTrue(FileManager.default.createFile(atPath: directory + "/img\(file).jpg", contents: empty))
            }
        }
        var count = 0
        var previous: String?
        for entry in DirectoryListing(root: root) {
            guard case .item(let item) = entry else { return XCTFail("unexpected \(entry)") }
            if let previous { XCTAssertTrue(ItemOrder.precedes(previous, item.id), "\(previous) before \(item.id)") }
            previous = item.id
            count += 1
        }
        XCTAssertEqual(count, 20_000)
        XCTAssertEqual(previous, "f9/img99.jpg")
    }

    // MARK: manifests

    func testJSONLinesManifest() throws {
        let folder = try temporaryFolder()
        let sha = String(repeating: "AB", count: 32)
        try touch(folder, "sub/list.jsonl", """
        {"id": "one", "path": "images/1.jpg"}
        {"id": "two", "path": "/abs/2.png", "sha256": "\(sha)"}

        {"id": "three", "path": "3.jpg", "sha256": null, "extra": 5}
        not json at all
        ["an", "array"]
        {"path": "no-id.jpg"}
        {"id": 7, "path": "x.jpg"}
        {"id": "four"}
        {"id": "one", "path": "again.jpg"}
        {"id": "five", "path": "5.jpg", "sha256": "abc"}
        {"id": "six", "path": "6.jpg"}
        """)
        let manifest = folder + "/sub/list.jsonl"
        let listing = try ManifestListing(path: manifest)
        XCTAssertEqual(listing.format, .jsonLines)
        let entries = Array(listing)
        XCTAssertEqual(items(entries), [
            InputItem(id: "one", path: folder + "/sub/images/1.jpg"),
            InputItem(id: "two", path: "/abs/2.png", sha256: sha.lowercased()),
            InputItem(id: "three", path: folder + "/sub/3.jpg"),
            InputItem(id: "six", path: folder + "/sub/6.jpg"),
        ])
        let problems = failures(entries)
        XCTAssertEqual(problems.map(\.line), [5, 6, 7, 8, 9, 10, 11])
        XCTAssertTrue(problems.allSatisfy { $0.source == manifest })
        XCTAssertEqual(problems.map(\.reason), [
            "not valid JSON",
            "expected a JSON object {\"id\": ..., \"path\": ...}",
            "missing \"id\"",
            "\"id\" must be a string",
            "missing \"path\"",
            "duplicate id; first listed on line 1",
            "sha256 must be 64 hex digits, got 'abc'",
        ])
        XCTAssertEqual(problems.map(\.id), [nil, nil, nil, nil, "four", "one", "five"])
        XCTAssertEqual(problems[5].description, "\(manifest):10 (id one): duplicate id; first listed on line 1")
    }

    func testCSVManifestWithQuotedFields() throws {
        let folder = try temporaryFolder()
        let sha = String(repeating: "0f", count: 32)
        // \r\n line ends, a BOM, columns in another order, quotes, a comma and a line break inside quotes.
        let text = "\u{FEFF}path,ID,sha256\r\n"
            + "a.jpg,a,\r\n"
            + "\"dir, with comma/b.jpg\",\"b \"\"quoted\"\"\",\(sha)\r\n"
            + "\"multi\nline.jpg\",c,\r\n"
            + "too,many,fields,here\r\n"
            + "bad\"quote.jpg,d,\r\n"
            + "\"closed\"junk,e,\r\n"
            + "f.jpg,a,\r\n"
            + ",g,\r\n"
            + "h.jpg,h,\r\n"
            + "\"never closed,i,\r\n"
        try touch(folder, "m.csv", text)
        let listing = try ManifestListing(path: folder + "/m.csv")
        let entries = Array(listing)
        XCTAssertEqual(items(entries), [
            InputItem(id: "a", path: folder + "/a.jpg"),
            InputItem(id: "b \"quoted\"", path: folder + "/dir, with comma/b.jpg", sha256: sha),
            InputItem(id: "c", path: folder + "/multi\nline.jpg"),
            InputItem(id: "h", path: folder + "/h.jpg"),
        ])
        let problems = failures(entries)
        XCTAssertEqual(problems.map(\.line), [6, 7, 8, 9, 10, 12])
        XCTAssertEqual(problems.map(\.reason), [
            "expected 3 fields as in the header, found 4",
            "quote inside an unquoted field 1; quote the whole field",
            "unexpected character after a closing quote in field 1",
            "duplicate id; first listed on line 2",
            "empty path",
            "unterminated quoted field (record starts on this line)",
        ])
    }

    func testBadHeadersStopBeforeAnyWork() throws {
        let folder = try temporaryFolder()
        try touch(folder, "unknown.csv", "id,path,label\na,a.jpg,1\n")
        try touch(folder, "missing.csv", "id,sha256\n")
        try touch(folder, "twice.csv", "id,path,id\n")
        try touch(folder, "empty.csv", "\n\n")
        let expectations = [("unknown.csv", "unknown column 'label'"), ("missing.csv", "must name columns id and path"),
                            ("twice.csv", "appears twice"), ("empty.csv", "no header line")]
        for (name, reason) in expectations {
            XCTAssertThrowsError(try ManifestListing(path: folder + "/" + name), name) { error in
                XCTAssertTrue("\(error)".hasPrefix(folder + "/" + name + ": "), "\(error)")
                XCTAssertTrue("\(error)".contains(reason), "\(error)")
            }
        }
        XCTAssertThrowsError(try ManifestListing(path: folder + "/absent.jsonl")) { error in
            XCTAssertTrue("\(error)".contains("no such file"), "\(error)")
        }
    }

    func testFormatIsSniffedWithoutAKnownExtension() throws {
        let folder = try temporaryFolder()
        try touch(folder, "list.txt", "\n  {\"id\": \"a\", \"path\": \"a.jpg\"}\n")
        try touch(folder, "table.txt", "id,path\na,a.jpg")  // no final newline
        XCTAssertEqual(items(try ManifestListing(path: folder + "/list.txt")), [InputItem(id: "a", path: folder + "/a.jpg")])
        XCTAssertEqual(items(try ManifestListing(path: folder + "/table.txt")), [InputItem(id: "a", path: folder + "/a.jpg")])
    }

    func testOverlongLineIsAnErrorItemAndReadingGoesOn() throws {
        let folder = try temporaryFolder()
        let long = "{\"id\": \"big\", \"path\": \"" + String(repeating: "x", count: 1 << 21) + "\"}"
        try touch(folder, "m.jsonl", "{\"id\": \"a\", \"path\": \"a.jpg\"}\n" + long + "\n{\"id\": \"b\", \"path\": \"b.jpg\"}\n")
        let entries = Array(try ManifestListing(path: folder + "/m.jsonl"))
        XCTAssertEqual(items(entries).map(\.id), ["a", "b"])
        XCTAssertEqual(failures(entries).map(\.line), [2])
        XCTAssertTrue(failures(entries).first?.reason.contains("longer than") == true)
    }

    func testManyManifestLinesAreStreamed() throws {
        let folder = try temporaryFolder()
        var text = "id,path\n"
        for i in 0..<50_000 { text += "item\(i),img/\(i).jpg\n" }
        try touch(folder, "big.csv", text)
        var count = 0
        for entry in try ManifestListing(path: folder + "/big.csv") {
            guard case .item(let item) = entry else { return XCTFail("unexpected \(entry)") }
            XCTAssertEqual(item.id, "item\(count)")
            count += 1
        }
        XCTAssertEqual(count, 50_000)
    }
}

import FixtureSupport
import Foundation
import Pipeline
import XCTest

/// A scratch folder with a small valid episode (support image, mask, query), for the tests that
/// feed `fssam` hostile files: each runs the real binary with a time limit, so a crash or a hang
/// is a failed assertion, not a dead test runner.
class HostileInputTestCase: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fssam-hostile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var image = [UInt8](repeating: 0, count: 32 * 32 * 3)
        for i in image.indices { image[i] = UInt8((i * 7) % 251) }
        var mask = [UInt8](repeating: 0, count: 32 * 32)
        for row in 8..<20 { for col in 8..<20 { mask[row * 32 + col] = 255 } }
        try AtomicFile.write(try ImageEncoder.png(width: 32, height: 32, bands: 3, pixels: image), to: path("support.png"))
        try AtomicFile.write(try ImageEncoder.png(width: 32, height: 32, bands: 1, pixels: mask), to: path("mask.png"))
        try AtomicFile.write(try ImageEncoder.png(width: 32, height: 32, bands: 3, pixels: image), to: path("queries/query.png"))
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// Runs fssam for at most `timeout` seconds (hostile inputs fail in well under a second).
    func fssam(_ arguments: [String], timeout: TimeInterval = 60) throws -> ProcessResult {
        try runProcess(BuiltProducts.executable("fssam"), arguments, currentDirectory: directory, timeout: timeout)
    }

    /// The episode arguments around a weight source: valid supports and query, output in the scratch folder.
    var episode: [String] {
        ["episode", "--support", path("support.png"), path("mask.png"), "--query", path("queries/query.png"), "--out", path("out.png")]
    }

    /// An episode whose supports come from `supportSet` (with synthetic weights).
    func episode(supportSet: String) -> [String] {
        ["episode", "--support-set", supportSet, "--query", path("queries/query.png"), "--out", path("out.png"), "--weights", "synthetic"]
    }

    func write(_ text: String, to name: String) throws -> String {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path(name)))
        return path(name)
    }

    func fifo(_ name: String) throws -> String {
        guard mkfifo(path(name), 0o644) == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        return path(name)
    }

    /// The run ended by itself, unsuccessfully, and its error says every one of `words`.
    func assertRefused(_ result: ProcessResult, saying words: [String], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(result.isOrderly, "\(what): \(result.description)", file: file, line: line)
        XCTAssertNotEqual(result.status, 0, "\(what) must fail", file: file, line: line)
        for word in words {
            XCTAssertTrue(result.stderr.contains(word), "\(what): stderr lacks '\(word)': \(result.stderr.suffix(600))", file: file, line: line)
        }
        XCTAssertFalse(result.stderr.contains("NSCocoaErrorDomain"), "\(what): \(result.stderr)", file: file, line: line)
    }
}

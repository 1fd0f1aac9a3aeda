import XCTest
import FixtureSupport
import Pipeline

/// `fssam run` end to end: the real binary, synthetic weights, a two-image folder with one bad file.
final class RunCommandTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fssam-runcmd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    func fssam(_ arguments: [String]) throws -> ProcessResult {
        try runProcess(BuiltProducts.executable("fssam"), arguments)
    }

    func read(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path(name)))) }

    func testRunWritesMasksAndReportsThenSkipsDoneItemsAndRefusesUnappliedParameters() throws {
        var image = [UInt8](repeating: 0, count: 48 * 48 * 3)
        for i in image.indices { image[i] = UInt8((i * 7 + i / 144) % 251) }
        var mask = [UInt8](repeating: 0, count: 48 * 48)
        for row in 10..<30 { for col in 8..<28 { mask[row * 48 + col] = 255 } }
        try AtomicFile.write(try ImageEncoder.png(width: 48, height: 48, bands: 3, pixels: image), to: path("support.png"))
        try AtomicFile.write(try ImageEncoder.png(width: 48, height: 48, bands: 1, pixels: mask), to: path("support-mask.png"))
        try AtomicFile.write(try ImageEncoder.png(width: 48, height: 48, bands: 3, pixels: image.reversed()), to: path("queries/a/one.png"))
        try AtomicFile.write(Array("GIF89a but not really".utf8), to: path("queries/bad.jpg"))

        let arguments = ["run", "--support", path("support.png"), path("support-mask.png"), "--queries", path("queries"),
                         "--out", path("out"), "--cache", path("cache"), "--weights", "synthetic"]
        let first = try fssam(arguments)
        XCTAssertEqual(first.status, 2, "one item failed, so the exit status says so: \(first.stderr)")
        XCTAssertTrue(first.stdout.contains(": 1 ok, 1 failed, 0 skipped as done"), first.stdout)
        XCTAssertTrue(first.stdout.contains("query.decode_mask"), first.stdout)
        let png = try read("out/masks/a/one.png")
        let decoded = try ImageDecoder().decodeLabel(png)
        XCTAssertEqual([decoded.width, decoded.height], [48, 48])
        let results = String(decoding: try read("out/results.jsonl"), as: UTF8.self)
        XCTAssertTrue(results.hasPrefix("{\"id\":\"a/one.png\",\"status\":\"computed\""), results)
        let errors = String(decoding: try read("out/errors.jsonl"), as: UTF8.self)
        XCTAssertTrue(errors.hasPrefix("{\"id\":\"bad.jpg\""), errors)

        let second = try fssam(arguments)
        XCTAssertEqual(second.status, 2, second.stderr)
        XCTAssertTrue(second.stdout.contains(": 0 ok, 1 failed, 1 skipped as done"), second.stdout)
        XCTAssertFalse(second.stdout.contains("query.decode_mask"), "nothing downstream of decode ran: \(second.stdout)")
        XCTAssertEqual(try read("out/masks/a/one.png"), png)
        XCTAssertEqual(String(decoding: try read("out/results.jsonl"), as: UTF8.self), results)

        let refused = try fssam(arguments + ["--set", "export.threshold=0.5"])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.contains("cannot apply export.threshold"), refused.stderr)
    }

    /// Killed with SIGKILL after its first mask appears, a run resumes: done items are skipped, the
    /// rest complete, and every mask equals an uninterrupted run's.
    func testRunKilledMidwayResumesAndMatchesAnUninterruptedRun() throws {
        var image = [UInt8](repeating: 0, count: 40 * 40 * 3)
        for i in image.indices { image[i] = UInt8((i * 5 + i / 120) % 241) }
        var mask = [UInt8](repeating: 0, count: 40 * 40)
        for row in 5..<25 { for col in 10..<30 { mask[row * 40 + col] = 1 } }
        try AtomicFile.write(try ImageEncoder.png(width: 40, height: 40, bands: 3, pixels: image), to: path("support.png"))
        try AtomicFile.write(try ImageEncoder.png(width: 40, height: 40, bands: 1, pixels: mask), to: path("support-mask.png"))
        for q in 0..<3 {
            let pixels = image.indices.map { UInt8((Int(image[$0]) + 61 * q + $0 % 7) % 256) }
            try AtomicFile.write(try ImageEncoder.png(width: 40, height: 40, bands: 3, pixels: pixels), to: path("queries/q\(q).png"))
        }
        func arguments(out: String, cache: String) -> [String] {
            ["run", "--support", path("support.png"), path("support-mask.png"), "--queries", path("queries"),
             "--out", path(out), "--cache", path(cache), "--weights", "synthetic"]
        }

        let process = Process()
        process.executableURL = BuiltProducts.executable("fssam")
        process.arguments = arguments(out: "out", cache: "cache")
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        while process.isRunning, Date() < deadline,
              !FileManager.default.fileExists(atPath: path("out/masks/q0.png")) { usleep(20_000) }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()

        let resumed = try fssam(arguments(out: "out", cache: "cache"))
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        // "run ID: A ok, 0 failed, S skipped as done": the kill came mid-run (something was left to do,
        // something was already committed) and together they are every item.
        let counts = (resumed.stdout.split(separator: "\n").first.map(String.init) ?? "")
            .split(separator: ":").last!.split(separator: ",").map { Int($0.split(separator: " ")[0]) ?? -1 }
        XCTAssertEqual(counts.count, 3, resumed.stdout)
        if counts.count == 3 {
            XCTAssertGreaterThan(counts[0], 0, resumed.stdout)
            XCTAssertEqual(counts[1], 0, resumed.stdout)
            XCTAssertEqual(counts[0] + counts[2], 3, resumed.stdout)
        }
        let reference = try fssam(arguments(out: "ref", cache: "ref-cache"))
        XCTAssertEqual(reference.status, 0, reference.stderr)
        XCTAssertTrue(reference.stdout.contains(": 3 ok, 0 failed, 0 skipped as done"), reference.stdout)
        for q in 0..<3 { XCTAssertEqual(try read("out/masks/q\(q).png"), try read("ref/masks/q\(q).png"), "q\(q)") }
        let again = try fssam(arguments(out: "out", cache: "cache"))
        XCTAssertTrue(again.stdout.contains(": 0 ok, 0 failed, 3 skipped as done"), again.stdout)
    }
}

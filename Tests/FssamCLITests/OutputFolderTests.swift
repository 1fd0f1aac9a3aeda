import XCTest
import FixtureSupport
import Pipeline
import StageCache

/// What `fssam run` does to its `--out`: one process at a time, one run per folder, one file per
/// item, nothing stale left behind. Every run is the real binary in a child process with a time
/// limit, so a hang or a crash fails the test.
final class OutputFolderTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fssam-outfolder-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    func fssam(_ arguments: [String]) throws -> ProcessResult {
        let result = try runProcess(BuiltProducts.executable("fssam"), arguments, timeout: 300)
        XCTAssertTrue(result.isOrderly, "fssam \(arguments.first ?? ""): \(result.description)")
        return result
    }

    func read(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path(name)))) }

    /// A support pair and `count` 40×40 queries `q<i>.png`.
    func makeDataset(queries count: Int) throws {
        var image = [UInt8](repeating: 0, count: 40 * 40 * 3)
        for i in image.indices { image[i] = UInt8((i * 7 + i / 120) % 251) }
        var mask = [UInt8](repeating: 0, count: 40 * 40)
        for row in 10..<30 { for col in 8..<28 { mask[row * 40 + col] = 255 } }
        try AtomicFile.write(try ImageEncoder.png(width: 40, height: 40, bands: 3, pixels: image), to: path("support.png"))
        try AtomicFile.write(try ImageEncoder.png(width: 40, height: 40, bands: 1, pixels: mask), to: path("support-mask.png"))
        for q in 0..<count {
            let pixels = image.enumerated().map { UInt8(truncatingIfNeeded: Int($1) + q * 37 + $0 % 5) }
            try AtomicFile.write(try ImageEncoder.png(width: 40, height: 40, bands: 3, pixels: pixels), to: path("queries/q\(q).png"))
        }
    }

    func arguments(out: String = "out", cache: String = "cache", _ extra: [String] = []) -> [String] {
        ["run", "--support", path("support.png"), path("support-mask.png"), "--queries", path("queries"),
         "--out", path(out), "--cache", path(cache), "--weights", "synthetic", "--quiet"] + extra
    }

    /// `fssam` started in the background, its output discarded.
    func start(_ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = BuiltProducts.executable("fssam")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Relative paths of every file under `folder`, hidden ones included.
    func listing(_ folder: String) -> [String] {
        (FileManager.default.enumerator(atPath: path(folder))?.allObjects as? [String] ?? []).filter {
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: path(folder + "/" + $0), isDirectory: &isDirectory) && !isDirectory.boolValue
        }.sorted()
    }

    func testASecondRunOnTheSameOutStopsAtOnceNamingTheHolder() throws {
        try makeDataset(queries: 6)
        let first = try start(arguments())
        defer { if first.isRunning { kill(first.processIdentifier, SIGKILL) }; first.waitUntilExit() }
        // Wait until the first run holds the folder (its PID in the lock file).
        let deadline = Date().addingTimeInterval(60)
        while first.isRunning, Date() < deadline,
              (try? String(contentsOfFile: path("out/.fssam.lock"), encoding: .utf8))?.hasPrefix("\(first.processIdentifier)") != true {
            usleep(10_000)
        }
        XCTAssertTrue(first.isRunning, "the first run ended before the second could start: the test proves nothing")
        let started = Date()
        let second = try fssam(arguments(["--set", "imr.iterations=2"]))
        XCTAssertEqual(second.status, 1, second.stdout)
        XCTAssertTrue(second.stderr.contains("in use by another fssam process (PID \(first.processIdentifier))"), second.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(started), 20, "refused at once, not after loading weights or computing")
        first.waitUntilExit()
        XCTAssertEqual(first.terminationStatus, 0)
        XCTAssertEqual(listing("out").filter { $0.hasPrefix("masks/") }.count, 6)
    }

    func testAFinishedOutBelongsToItsRunUnlessForced() throws {
        try makeDataset(queries: 2)
        let first = try fssam(arguments(["--overlay"]))
        XCTAssertEqual(first.status, 0, first.stderr)
        let masks = try read("out/masks/q0.png.png")

        // Other parameters (another run id) into the finished folder: refused, both described, nothing touched.
        let retune = try fssam(arguments(["--set", "imr.iterations=1"]))
        XCTAssertEqual(retune.status, 1)
        XCTAssertTrue(retune.stderr.contains("holds the results of another run"), retune.stderr)
        XCTAssertTrue(retune.stderr.contains("imr.iterations=3") && retune.stderr.contains("imr.iterations=1"), retune.stderr)
        XCTAssertTrue(retune.stderr.contains("--force"), retune.stderr)
        XCTAssertEqual(try read("out/masks/q0.png.png"), masks)

        // Other input into it: refused as well.
        try FileManager.default.copyItem(atPath: path("queries"), toPath: path("other"))
        var otherInput = arguments()
        otherInput[otherInput.firstIndex(of: path("queries"))!] = path("other")
        let moved = try fssam(otherInput)
        XCTAssertEqual(moved.status, 1)
        XCTAssertTrue(moved.stderr.contains("input: queries \(path("other"))"), moved.stderr)

        // --force: the old run's files go (its overlays too), the new run's come.
        let forced = try fssam(arguments(["--set", "imr.iterations=1", "--force"]))
        XCTAssertEqual(forced.status, 0, forced.stderr)
        XCTAssertFalse(listing("out").contains { $0.hasPrefix("overlays/") }, "\(listing("out"))")
        XCTAssertEqual(listing("out").filter { $0.hasPrefix("masks/") }, ["masks/q0.png.png", "masks/q1.png.png"])
        let runJSON = String(decoding: try read("out/run.json"), as: UTF8.self)
        XCTAssertTrue(runJSON.contains("\"imr.iterations\":\"1\""), runJSON)
    }

    func testIdsDifferingOnlyInExtensionGetTwoMasks() throws {
        try makeDataset(queries: 1)
        let png = try read("queries/q0.png")
        let decoded = try ImageDecoder().decode(png)
        try AtomicFile.write(try ImageEncoder.jpeg(width: decoded.width, height: decoded.height, bands: 3, pixels: decoded.pixels),
                             to: path("queries/q0.jpg"))
        let run = try fssam(arguments(["--json"]))
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("\"ok\":2"), run.stdout)
        XCTAssertEqual(listing("out").filter { $0.hasPrefix("masks/") }, ["masks/q0.jpg.png", "masks/q0.png.png"])
        let results = String(decoding: try read("out/results.jsonl"), as: UTF8.self).split(separator: "\n")
        XCTAssertEqual(results.count, 2)
        for (line, id) in zip(results, ["q0.jpg", "q0.png"]) {
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            XCTAssertEqual(object["id"] as? String, id)
            XCTAssertEqual(object["mask_sha256"] as? String, Digest.sha256(try read("out/masks/\(id).png")).hex, id)
        }
    }

    func testTemporariesOfAKilledRunAreRemovedAndTheResumeIsByteIdentical() throws {
        try makeDataset(queries: 3)
        let reference = try fssam(arguments(out: "ref", cache: "ref-cache"))
        XCTAssertEqual(reference.status, 0, reference.stderr)

        // A run killed mid-way, plus debris as a killed writer leaves it (today's names and older versions').
        let process = try start(arguments())
        let deadline = Date().addingTimeInterval(120)
        while process.isRunning, Date() < deadline, !FileManager.default.fileExists(atPath: path("out/masks/q0.png.png")) { usleep(10_000) }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        for debris in ["out/masks/.fssam-tmp-99999-1-q1.png.png", "out/masks/.q2.png.tmp-99999-7", "out/.results.jsonl.tmp-99999-3",
                       "out/.fssam-spill-99999-5.run", "out/.fssam-tmp-99999-2-sort.run"] {
            try AtomicFile.write([0, 1, 2], to: path(debris))
        }

        let resumed = try fssam(arguments())
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(listing("out").filter { $0.contains("tmp") || $0.contains("spill") }, [], "stale temporaries removed")
        let visible = listing("out").filter { !$0.split(separator: "/").contains { $0.hasPrefix(".") } }
        XCTAssertEqual(visible, listing("ref").filter { !$0.split(separator: "/").contains { $0.hasPrefix(".") } })
        for name in visible where name != "results.jsonl" { XCTAssertEqual(try read("out/" + name), try read("ref/" + name), name) }
    }

    func testOneLetterRelativeFoldersWork() throws {
        // Foundation's NSString.deletingLastPathComponent traps on "c": a cache or copy named so crashed.
        try makeDataset(queries: 1)
        let result = try runProcess(BuiltProducts.executable("fssam"),
                                    ["run", "--support", "support.png", "support-mask.png", "--queries", "queries", "--out", "o",
                                     "--cache", "c", "--weights", "synthetic", "--quiet"], currentDirectory: directory, timeout: 300)
        XCTAssertTrue(result.isOrderly, result.description)
        XCTAssertEqual(result.status, 0, result.stderr)
        let copy = try runProcess(BuiltProducts.executable("fssam"), ["cache", "copy", "--cache", "c", "d"],
                                  currentDirectory: directory, timeout: 120)
        XCTAssertTrue(copy.isOrderly, copy.description)
        XCTAssertEqual(copy.status, 0, copy.stderr)
    }

    func testAnUnwritableOutIsSaidInPlainWords() throws {
        try makeDataset(queries: 1)
        try AtomicFile.write([1], to: path("file"))
        let onFile = try fssam(arguments(out: "file/out"))
        XCTAssertEqual(onFile.status, 1)
        XCTAssertTrue(onFile.stderr.contains("\(path("file")) is a file"), onFile.stderr)
        XCTAssertFalse(onFile.stderr.contains("NSCocoaErrorDomain"), onFile.stderr)
    }
}

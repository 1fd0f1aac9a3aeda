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

    /// A 48×48 support image and its mask (a rectangle) in the test folder; returns the image's RGB bytes.
    func writeSupport() throws -> [UInt8] {
        var image = [UInt8](repeating: 0, count: 48 * 48 * 3)
        for i in image.indices { image[i] = UInt8((i * 7 + i / 144) % 251) }
        var mask = [UInt8](repeating: 0, count: 48 * 48)
        for row in 10..<30 { for col in 8..<28 { mask[row * 48 + col] = 255 } }
        try AtomicFile.write(try ImageEncoder.png(width: 48, height: 48, bands: 3, pixels: image), to: path("support.png"))
        try AtomicFile.write(try ImageEncoder.png(width: 48, height: 48, bands: 1, pixels: mask), to: path("support-mask.png"))
        return image
    }

    func testRunWritesMasksAndReportsThenSkipsDoneItemsAndRefusesUnappliedParameters() throws {
        let image = try writeSupport()
        try AtomicFile.write(try ImageEncoder.png(width: 48, height: 48, bands: 3, pixels: image.reversed()), to: path("queries/a/one.png"))
        try AtomicFile.write(Array("GIF89a but not really".utf8), to: path("queries/bad.jpg"))

        let arguments = ["run", "--support", path("support.png"), path("support-mask.png"), "--queries", path("queries"),
                         "--out", path("out"), "--cache", path("cache"), "--weights", "synthetic"]
        let first = try fssam(arguments)
        XCTAssertEqual(first.status, 2, "one item failed, so the exit status says so: \(first.stderr)")
        XCTAssertTrue(first.stdout.contains(": 1 ok, 1 failed, 0 skipped as done"), first.stdout)
        XCTAssertTrue(first.stdout.contains("query.decode_mask"), first.stdout)
        let png = try read("out/masks/a/one.png.png")
        let decoded = try ImageDecoder().decodeLabel(png)
        XCTAssertEqual([decoded.width, decoded.height], [48, 48])
        let results = String(decoding: try read("out/results.jsonl"), as: UTF8.self)
        XCTAssertTrue(results.hasPrefix("{\"id\":\"a/one.png\",\"status\":\"computed\""), results)
        let errors = String(decoding: try read("out/errors.jsonl"), as: UTF8.self)
        XCTAssertTrue(errors.hasPrefix("{\"id\":\"bad.jpg\""), errors)
        try assertPredictionsDecodeToMasks(out: "out")

        let second = try fssam(arguments)
        XCTAssertEqual(second.status, 2, second.stderr)
        XCTAssertTrue(second.stdout.contains(": 0 ok, 1 failed, 1 skipped as done"), second.stdout)
        XCTAssertFalse(second.stdout.contains("query.decode_mask"), "nothing downstream of decode ran: \(second.stdout)")
        XCTAssertEqual(try read("out/masks/a/one.png.png"), png)
        XCTAssertEqual(String(decoding: try read("out/results.jsonl"), as: UTF8.self), results)

        let refused = try fssam(arguments + ["--set", "export.threshold=0.5"])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.contains("cannot apply export.threshold"), refused.stderr)
    }

    /// A hostile `--queries` folder with `--out` inside it: an SVG, a PDF and a GIF named `.png`, a
    /// FIFO, a symbolic link loop and a folder named like an image are each one `errors.jsonl`
    /// line, the run ends by itself (a FIFO never blocks it), libvips prints nothing, and the
    /// second run does not pick up the first run's masks.
    func testHostileQueryFolderEntriesAreOneErrorEachAndTheOutputFolderIsNotAnInput() throws {
        let image = try writeSupport()
        let queries = path("queries")
        try AtomicFile.write(try ImageEncoder.png(width: 48, height: 48, bands: 3, pixels: image.reversed()), to: queries + "/good.png")
        try AtomicFile.write(Array("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"48\" height=\"48\"><rect width=\"48\" height=\"48\"/></svg>".utf8),
                             to: queries + "/drawing.png")
        try AtomicFile.write(Array("%PDF-1.4\n%%EOF\n".utf8), to: queries + "/paper.png")
        try AtomicFile.write(Array("GIF89a".utf8) + [1, 0, 1, 0, 0, 0, 0, 0x3B], to: queries + "/anim.png")
        XCTAssertEqual(mkfifo(queries + "/pipe.png", 0o600), 0)
        try FileManager.default.createSymbolicLink(atPath: queries + "/loop.png", withDestinationPath: queries + "/loop.png")
        try FileManager.default.createDirectory(atPath: queries + "/folder.png", withIntermediateDirectories: true)

        let arguments = ["run", "--support", path("support.png"), path("support-mask.png"), "--queries", queries,
                         "--out", queries + "/out", "--cache", queries + "/cache", "--weights", "synthetic", "--quiet"]
        for attempt in 1...2 {
            let result = try runProcess(BuiltProducts.executable("fssam"), arguments, timeout: 120)
            XCTAssertTrue(result.isOrderly, "attempt \(attempt): \(result.description)")
            XCTAssertEqual(result.status, 2, "attempt \(attempt): \(result.description)")
            XCTAssertFalse(result.stderr.contains("VIPS-WARNING"), result.stderr)
            let errors = String(decoding: try read("queries/out/errors.jsonl"), as: UTF8.self)
            let ids = errors.split(separator: "\n").compactMap { line -> String? in
                (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["id"] as? String
            }
            XCTAssertEqual(ids, ["anim.png", "drawing.png", "folder.png", "loop.png", "paper.png", "pipe.png"], errors)
            for expected in ["a GIF image, not a supported image (JPEG, PNG, WebP, TIFF)", "an SVG document, not a supported image",
                             "a PDF document", "is a directory", "symbolic link loop", "is a named pipe (FIFO), not a regular file"] {
                XCTAssertTrue(errors.contains(expected), "\(expected) in \(errors)")
            }
            XCTAssertFalse(errors.contains("out/"), "the output folder was listed: \(errors)")
            let results = String(decoding: try read("queries/out/results.jsonl"), as: UTF8.self)
            XCTAssertEqual(results.split(separator: "\n").count, 1, "only good.png: \(results)")
        }
    }

    /// A FIFO given as the manifest is refused at once; it would otherwise block the run forever.
    func testAFIFOManifestIsRefusedWithoutBlocking() throws {
        XCTAssertEqual(mkfifo(path("manifest.jsonl"), 0o600), 0)
        try AtomicFile.write(try ImageEncoder.png(width: 8, height: 8, bands: 3, pixels: [UInt8](repeating: 9, count: 192)), to: path("s.png"))
        try AtomicFile.write(try ImageEncoder.png(width: 8, height: 8, bands: 1, pixels: [UInt8](repeating: 255, count: 64)), to: path("m.png"))
        let result = try runProcess(BuiltProducts.executable("fssam"),
                                    ["run", "--support", path("s.png"), path("m.png"), "--manifest", path("manifest.jsonl"),
                                     "--out", path("out"), "--cache", path("cache"), "--weights", "synthetic"], timeout: 30)
        XCTAssertTrue(result.isOrderly, result.description)
        XCTAssertEqual(result.status, 1, result.description)
        XCTAssertTrue(result.stderr.contains("manifest.jsonl: the manifest or list file is a named pipe (FIFO), not a regular file"), result.stderr)
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
              !FileManager.default.fileExists(atPath: path("out/masks/q0.png.png")) { usleep(20_000) }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()

        let resumed = try fssam(arguments(out: "out", cache: "cache") + ["--json"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        // The kill came mid-run (something was left to do) and with what was already committed the
        // resumed run accounts for every item.
        let items = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(resumed.stdout.utf8)) as? [String: Any])?["items"]
            as? [String: Int], resumed.stdout)
        XCTAssertGreaterThan(items["ok"] ?? 0, 0, resumed.stdout)
        XCTAssertEqual(items["failed"], 0, resumed.stdout)
        XCTAssertEqual((items["ok"] ?? 0) + (items["skipped_as_done"] ?? 0), 3, resumed.stdout)
        let reference = try fssam(arguments(out: "ref", cache: "ref-cache"))
        XCTAssertEqual(reference.status, 0, reference.stderr)
        XCTAssertTrue(reference.stdout.contains(": 3 ok, 0 failed, 0 skipped as done"), reference.stdout)
        for q in 0..<3 { XCTAssertEqual(try read("out/masks/q\(q).png.png"), try read("ref/masks/q\(q).png.png"), "q\(q)") }
        for report in ["predictions.json", "errors.jsonl", "run.json"] {
            XCTAssertEqual(try read("out/" + report), try read("ref/" + report), report)
        }
        let again = try fssam(arguments(out: "out", cache: "cache"))
        XCTAssertTrue(again.stdout.contains(": 0 ok, 0 failed, 3 skipped as done"), again.stdout)
    }

    /// pycocotools (installed by the setup script) decodes every entry of OUT/predictions.json to
    /// exactly the pixels of the item's PNG mask. A missing python3 or pycocotools fails the test.
    func assertPredictionsDecodeToMasks(out: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let script = """
            import json, sys
            import pycocotools.mask as M
            for p in json.load(open(sys.argv[1])):
                m = M.decode(p["segmentation"])
                bits = "".join("1" if v else "0" for v in m.reshape(-1))
                print(json.dumps({"id": p["image_id"], "h": int(m.shape[0]), "w": int(m.shape[1]), "bits": bits,
                                  "area": int(M.area(p["segmentation"])), "declared_area": p["area"]}))
            """
        let result = try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", script, path(out + "/predictions.json")])
        XCTAssertEqual(result.status, 0, "pycocotools failed: \(result.stderr)", file: file, line: line)
        let entries = result.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let masks = FileManager.default.enumerator(atPath: path(out + "/masks"))!.allObjects.compactMap { $0 as? String }
            .filter { $0.hasSuffix(".png") }
        XCTAssertGreaterThan(entries.count, 0, file: file, line: line)
        XCTAssertEqual(entries.count, masks.count, "one prediction per mask", file: file, line: line)
        for entry in entries {
            let id = entry["id"] as? String ?? ""
            let name = id + ".png"
            let png = try ImageDecoder().decodeLabelFile(path(out + "/masks/" + name))
            XCTAssertEqual([entry["h"] as? Int, entry["w"] as? Int], [png.height, png.width], id, file: file, line: line)
            let expected = String(png.values.map { $0 == 0 ? Character("0") : Character("1") })
            XCTAssertEqual(entry["bits"] as? String, expected, "\(id): pycocotools decodes to the PNG mask", file: file, line: line)
            XCTAssertEqual(entry["area"] as? Int, png.values.filter { $0 != 0 }.count, id, file: file, line: line)
            XCTAssertEqual(entry["declared_area"] as? Int, entry["area"] as? Int, id, file: file, line: line)
        }
    }
}

import Foundation
import XCTest
@testable import Pipeline
import StageCache

/// Deterministic masks for the tests (SplitMix64), so a failure reproduces.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The exporters write what COCO tools read: RLE bit-identical to pycocotools, canonical result
/// files, output paths that cannot escape `--out`.
final class ExportTests: XCTestCase {
    struct MaskCase {
        let name: String
        let height: Int
        let width: Int
        let mask: [UInt8]
    }

    // MARK: RLE against hand-computed vectors

    func testKnownVectors() throws {
        // (row-major mask, h, w, column-major counts, counts string, bbox, area), worked out by hand.
        let vectors: [([UInt8], Int, Int, [Int], String, [Int], Int)] = [
            ([0, 1, 1, 1], 2, 2, [1, 3], "13", [0, 0, 2, 2], 3),
            ([1], 1, 1, [0, 1], "01", [0, 0, 1, 1], 1),
            ([0], 1, 1, [1], "1", [0, 0, 0, 0], 0),
            ([UInt8](repeating: 1, count: 6), 3, 2, [0, 6], "06", [0, 0, 2, 3], 6),
            // 20 = 0b10100: low group has bit 4 set, so a zero group follows ("d" = 48+52, "0").
            ([UInt8](repeating: 0, count: 20), 4, 5, [20], "d0", [0, 0, 0, 0], 0),
            // Columns [0,0,1] [1,1,1] [1,0,1]: runs 2,5,1,1; the 4th is written as 1-5 = -4 -> 28+48 = "L".
            ([0, 1, 1, 0, 1, 0, 1, 1, 1], 3, 3, [2, 5, 1, 1], "251L", [0, 0, 3, 3], 6),
            // A 2x2 block at rows 1-2, columns 2-3 of a 4x5 mask: runs 9,2,2,2,5, the last two as deltas 0 and 3.
            ([0, 0, 0, 0, 0,
              0, 0, 1, 1, 0,
              0, 0, 1, 1, 0,
              0, 0, 0, 0, 0], 4, 5, [9, 2, 2, 2, 5], "92203", [2, 1, 2, 2], 4),
        ]
        for (mask, h, w, counts, string, bbox, area) in vectors {
            let rle = COCORLE(mask: mask, height: h, width: w)
            XCTAssertEqual(rle.counts, counts, "\(h)x\(w) \(mask)")
            XCTAssertEqual(rle.countsString, string, "\(h)x\(w) \(mask)")
            XCTAssertEqual(rle.bbox, bbox, "\(h)x\(w) \(mask)")
            XCTAssertEqual(rle.area, area, "\(h)x\(w) \(mask)")
            let decoded = try COCORLE(countsString: string, height: h, width: w)
            XCTAssertEqual(decoded, rle)
            XCTAssertEqual(decoded.mask(), mask.map { $0 != 0 ? 1 : 0 })
        }
    }

    func testNonzeroCountsAsTarget() {
        XCTAssertEqual(COCORLE(mask: [0, 255, 7, 0], height: 2, width: 2), COCORLE(mask: [0, 1, 1, 0], height: 2, width: 2))
    }

    func testRoundTripOfRandomMasks() throws {
        for testCase in randomCases(count: 40, seed: 7) {
            let rle = COCORLE(mask: testCase.mask, height: testCase.height, width: testCase.width)
            XCTAssertEqual(rle.counts.reduce(0, +), testCase.height * testCase.width)
            let back = try COCORLE(countsString: rle.countsString, height: testCase.height, width: testCase.width)
            XCTAssertEqual(back.counts, rle.counts, testCase.name)
            XCTAssertEqual(back.mask(), testCase.mask, testCase.name)
            XCTAssertEqual(rle.area, testCase.mask.reduce(0) { $0 + Int($1) }, testCase.name)
        }
    }

    func testMalformedCountsStringsAreRefused() {
        XCTAssertThrowsError(try COCORLE(countsString: "1", height: 2, width: 2)) { error in
            XCTAssertTrue("\(error)".contains("cover 1 pixels"), "\(error)")
        }
        XCTAssertThrowsError(try COCORLE(countsString: "1~", height: 2, width: 2))  // outside '0'...'o'
        XCTAssertThrowsError(try COCORLE(countsString: "d", height: 4, width: 5))   // ends mid-count
        XCTAssertThrowsError(try COCORLE(countsString: "oooooooooooooooo0", height: 1, width: 1))  // absurdly long count
        XCTAssertThrowsError(try COCORLE(countsString: "15L", height: 1, width: 1))  // decodes to a negative run
    }

    // MARK: RLE against pycocotools itself

    /// Our encoder and pycocotools agree on the counts string, pycocotools decodes our strings to
    /// our masks, and its `area` / `toBbox` agree with ours.
    func testPycocotoolsAgreesWithOurEncoding() throws {
        var cases = randomCases(count: 24, seed: 2024)
        cases.append(MaskCase(name: "empty 7x5", height: 7, width: 5, mask: [UInt8](repeating: 0, count: 35)))
        cases.append(MaskCase(name: "full 9x4", height: 9, width: 4, mask: [UInt8](repeating: 1, count: 36)))
        cases.append(MaskCase(name: "1x1 on", height: 1, width: 1, mask: [1]))
        cases.append(MaskCase(name: "1x1 off", height: 1, width: 1, mask: [0]))
        cases.append(MaskCase(name: "1x13 row", height: 1, width: 13, mask: (0..<13).map { UInt8($0 % 3 == 0 ? 1 : 0) }))
        // Runs longer than 2^16 (and a background run as long before them): multi-group counts
        // and large deltas.
        let (h, w) = (301, 517)
        var long = [UInt8](repeating: 0, count: h * w)
        for x in 230..<517 { for y in 0..<h where !(x == 400 && y == 150) { long[y * w + x] = 1 } }
        cases.append(MaskCase(name: "long runs 301x517", height: h, width: w, mask: long))
        XCTAssertTrue(COCORLE(mask: long, height: h, width: w).counts.contains { $0 > 1 << 16 })

        let answers = try pycocotools(cases)
        XCTAssertEqual(answers.count, cases.count)
        for (testCase, answer) in zip(cases, answers) {
            let rle = COCORLE(mask: testCase.mask, height: testCase.height, width: testCase.width)
            XCTAssertEqual(answer["counts"] as? String, rle.countsString, "\(testCase.name): pycocotools mask.encode")
            XCTAssertEqual(answer["decoded"] as? String, String(decoding: testCase.mask.map { $0 + 48 }, as: UTF8.self),
                           "\(testCase.name): pycocotools mask.decode of our counts")
            XCTAssertEqual(answer["area"] as? Int, rle.area, "\(testCase.name): area")
            XCTAssertEqual(answer["bbox"] as? [Int], rle.bbox, "\(testCase.name): toBbox")
        }
    }

    /// Masks of odd sizes and densities: sparse noise, dense noise, rectangles (long runs), stripes.
    func randomCases(count: Int, seed: UInt64) -> [MaskCase] {
        var rng = SeededGenerator(state: seed)
        return (0..<count).map { i in
            let h = Int.random(in: 1...97, using: &rng) | 1
            let w = Int.random(in: 1...123, using: &rng) | 1
            var mask = [UInt8](repeating: 0, count: h * w)
            switch i % 4 {
            case 0, 1:
                let density = i % 4 == 0 ? 0.05 : 0.8
                for p in mask.indices where Double.random(in: 0..<1, using: &rng) < density { mask[p] = 1 }
            case 2:
                for _ in 0..<3 {
                    let (y0, x0) = (Int.random(in: 0..<h, using: &rng), Int.random(in: 0..<w, using: &rng))
                    let (y1, x1) = (Int.random(in: y0..<h, using: &rng), Int.random(in: x0..<w, using: &rng))
                    for y in y0...y1 { for x in x0...x1 { mask[y * w + x] = 1 } }
                }
            default:
                for y in 0..<h where y % 3 == 0 { for x in 0..<w { mask[y * w + x] = 1 } }
            }
            return MaskCase(name: "case \(i) \(h)x\(w)", height: h, width: w, mask: mask)
        }
    }

    /// Runs pycocotools in a `python3` subprocess. A missing python3 or pycocotools is a failure,
    /// not a skip: without the oracle this test proves nothing.
    func pycocotools(_ cases: [MaskCase]) throws -> [[String: Any]] {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fssam-rle-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let input = folder.appendingPathComponent("cases.json"), output = folder.appendingPathComponent("answers.json")
        let payload: [[String: Any]] = cases.map { c in
            ["h": c.height, "w": c.width, "bits": String(decoding: c.mask.map { $0 + 48 }, as: UTF8.self),
             "counts": COCORLE(mask: c.mask, height: c.height, width: c.width).countsString]
        }
        try JSONSerialization.data(withJSONObject: payload).write(to: input)
        let script = """
        import json, sys
        try:
            import numpy as np
            import pycocotools.mask as M
        except ImportError as e:
            sys.stderr.write("import failed: %s\\n" % e)
            sys.exit(3)
        out = []
        for c in json.load(open(sys.argv[1])):
            h, w = c["h"], c["w"]
            a = np.asfortranarray((np.frombuffer(c["bits"].encode(), dtype=np.uint8) - 48).reshape(h, w))
            theirs = M.encode(a)
            ours = {"size": [h, w], "counts": c["counts"].encode()}
            decoded = M.decode(ours)
            out.append({"counts": theirs["counts"].decode(),
                        "decoded": (decoded.reshape(-1) + 48).astype(np.uint8).tobytes().decode(),
                        "area": int(M.area(ours)),
                        "bbox": [int(v) for v in M.toBbox(ours)]})
        json.dump(out, open(sys.argv[2], "w"))
        """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, input.path, output.path]
        let stderr = Pipe()
        process.standardError = stderr
        let help = "python3 with numpy and pycocotools is required for the COCO RLE check: run scripts/setup.sh"
        do { try process.run() } catch {
            XCTFail("cannot start python3 (\(error)); \(help)")
            throw error
        }
        let errors = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let reason = process.terminationStatus == 3 || process.terminationStatus == 127
                ? help : "pycocotools check failed"
            XCTFail("\(reason) (python3 exit \(process.terminationStatus)): \(errors)")
            throw PipelineError("python3", reason)
        }
        let answers = try JSONSerialization.jsonObject(with: Data(contentsOf: output)) as? [[String: Any]]
        return try XCTUnwrap(answers, "pycocotools output is not a list of objects")
    }

    // MARK: predictions.json

    func predictions(seed: UInt64) -> [Prediction] {
        var rng = SeededGenerator(state: seed)
        return (0..<30).map { i in
            let mask = (0..<(5 * 7)).map { _ in UInt8.random(in: 0...1, using: &rng) }
            return Prediction(itemID: "dir\(i % 3)/img\(i).jpg", imageID: .name("dir\(i % 3)/img\(i).jpg"),
                              categoryID: 1 + i % 2, segmentation: COCORLE(mask: mask, height: 5, width: 7),
                              score: Double(i) / 7)
        } + [
            // Two entries for one item: ordered by their own bytes, whatever order they arrive in.
            Prediction(itemID: "dir0/img0.jpg", imageID: .name("dir0/img0.jpg"), categoryID: 2,
                       segmentation: COCORLE(mask: [1, 0], height: 1, width: 2), score: 0.25),
        ]
    }

    func testPredictionsAreByteIdenticalForAnyInputOrder() throws {
        let records = predictions(seed: 1)
        var rng = SeededGenerator(state: 99)
        let folder = try temporaryFolder()
        try PredictionsWriter.write(records, to: folder + "/a.json")
        try PredictionsWriter.write(records.shuffled(using: &rng), to: folder + "/b.json")
        try PredictionsWriter.write(records.reversed(), to: folder + "/c.json")
        let a = try Data(contentsOf: URL(fileURLWithPath: folder + "/a.json"))
        XCTAssertEqual(a, try Data(contentsOf: URL(fileURLWithPath: folder + "/b.json")))
        XCTAssertEqual(a, try Data(contentsOf: URL(fileURLWithPath: folder + "/c.json")))

        // Valid JSON, sorted by item id (byte order), one entry per record.
        let entries = try XCTUnwrap(try JSONSerialization.jsonObject(with: a) as? [[String: Any]])
        XCTAssertEqual(entries.count, records.count)
        let ids = entries.map { $0["image_id"] as! String }
        XCTAssertEqual(ids, ids.sorted { ItemOrder.precedes($0, $1) })
        XCTAssertEqual(try PredictionsWriter.render([]), Array("[]\n".utf8))
    }

    func testPredictionEntrySpelling() throws {
        let entry = Prediction(itemID: "a/b.jpg", imageID: .name("a/b.jpg"), categoryID: 1,
                               segmentation: COCORLE(mask: [0, 1, 1, 1], height: 2, width: 2), score: 0.5)
        XCTAssertEqual(try entry.json(),
                       #"{"image_id":"a/b.jpg","category_id":1,"segmentation":{"size":[2,2],"counts":"13"},"score":0.5,"bbox":[0,0,2,2],"area":3}"#)
        let numeric = Prediction(itemID: "x", imageID: .number(42), categoryID: 3,
                                 segmentation: COCORLE(mask: [1], height: 1, width: 1), score: 1, includeBoxAndArea: false)
        XCTAssertEqual(try numeric.json(), #"{"image_id":42,"category_id":3,"segmentation":{"size":[1,1],"counts":"01"},"score":1.0}"#)
        let bad = Prediction(itemID: "x", imageID: .number(1), categoryID: 1,
                             segmentation: COCORLE(mask: [1], height: 1, width: 1), score: .nan)
        XCTAssertThrowsError(try PredictionsWriter.render([bad])) { error in
            XCTAssertTrue("\(error)".contains("x: score"), "\(error)")
        }
    }

    // MARK: results.jsonl / errors.jsonl

    func testResultsAndErrorLines() throws {
        let png = Array("abc".utf8)
        let line = ResultsLine(id: "b.jpg", status: "computed", maskPNG: png, area: 12, seconds: 0.125,
                               cacheHits: ["scma": 0, "decode": 1, "dino_features": 1])
        XCTAssertEqual(line.maskSHA256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")  // SHA-256("abc")
        XCTAssertEqual(try line.json(),
                       #"{"id":"b.jpg","status":"computed","mask_sha256":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad","area":12,"seconds":0.125,"cache_hits":{"decode":1,"dino_features":1,"scma":0}}"#)
        let other = ResultsLine(id: "a.jpg", status: "cached", maskSHA256: String(repeating: "0", count: 64), area: 0,
                                seconds: 0, cacheHits: [:])
        let rendered = String(decoding: try JSONLinesWriter.render([line, other]), as: UTF8.self)
        XCTAssertEqual(rendered.split(separator: "\n").map { String($0.prefix(12)) }, [#"{"id":"a.jpg"#, #"{"id":"b.jpg"#])
        XCTAssertTrue(rendered.hasSuffix("}\n"))
        XCTAssertEqual(try JSONLinesWriter.render([other, line]), try JSONLinesWriter.render([line, other]))

        let errors = [
            ErrorLine(id: "z/q.png", path: "/data/z/q.png", stage: "decode", reason: "not an image: \"bad\"\nheader"),
            ErrorLine(id: "m.jpg", path: "/data/m.jpg", stage: "input", reason: "sha256 mismatch"),
        ]
        let errorText = String(decoding: try JSONLinesWriter.render(errors), as: UTF8.self)
        XCTAssertEqual(errorText, """
        {"id":"m.jpg","path":"/data/m.jpg","stage":"input","reason":"sha256 mismatch"}
        {"id":"z/q.png","path":"/data/z/q.png","stage":"decode","reason":"not an image: \\"bad\\"\\nheader"}

        """)
        // Every line is a JSON object that reads back to the same reason.
        let last = try JSONSerialization.jsonObject(with: Data(errorText.split(separator: "\n")[1].utf8)) as? [String: String]
        XCTAssertEqual(last?["reason"], "not an image: \"bad\"\nheader")
        XCTAssertEqual(CanonicalJSON.string("\u{1}é"), "\"\\u0001é\"")
    }

    // MARK: mask file layout

    func testMaskPathsMirrorTheInputTree() throws {
        let layout = MaskFileLayout(outputDirectory: "/out")
        XCTAssertEqual(try layout.maskPath(forItem: "a/b/c.JPG"), "/out/masks/a/b/c.JPG.png")
        XCTAssertEqual(try layout.maskPath(forItem: "x.tar.tif"), "/out/masks/x.tar.tif.png")
        XCTAssertEqual(try layout.maskPath(forItem: "noext"), "/out/masks/noext.png")
        XCTAssertEqual(try layout.maskPath(forItem: "d/.hidden"), "/out/masks/d/.hidden.png")
        XCTAssertEqual(try layout.overlayPath(forItem: "a/b.png"), "/out/overlays/a/b.png.png")
    }

    func testPathsThatWouldEscapeAreRefused() throws {
        let layout = MaskFileLayout(outputDirectory: "/out")
        let refusals: [(String, String)] = [
            ("../x.jpg", "'..'"), ("a/../../etc/x.jpg", "'..'"), ("a/..", "'..'"),
            ("/etc/passwd", "absolute"), ("a//b.jpg", "empty path component"), ("a/", "empty path component"),
            ("./a.jpg", "'.'"), ("", "empty id"), ("a\u{0}b", "NUL"),
        ]
        for (id, reason) in refusals {
            XCTAssertThrowsError(try layout.maskPath(forItem: id), "id \(id.debugDescription)") { error in
                XCTAssertTrue("\(error)".contains(reason), "\(id.debugDescription): \(error)")
            }
        }
    }

    func testSymbolicLinkComponentsAreRefused() throws {
        let out = try temporaryFolder(), elsewhere = try temporaryFolder()
        try FileManager.default.createDirectory(atPath: out + "/masks/real", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: out + "/masks/link", withDestinationPath: elsewhere)
        try FileManager.default.createSymbolicLink(atPath: out + "/masks/real/file.png", withDestinationPath: elsewhere + "/f.png")
        let layout = MaskFileLayout(outputDirectory: out)
        XCTAssertEqual(try layout.maskPath(forItem: "real/ok.jpg"), out + "/masks/real/ok.jpg.png")
        XCTAssertThrowsError(try layout.maskPath(forItem: "link/a.jpg")) { error in
            XCTAssertTrue("\(error)".hasPrefix("link/a.jpg: "), "\(error)")
            XCTAssertTrue("\(error)".contains("symbolic link"), "\(error)")
        }
        XCTAssertThrowsError(try layout.maskPath(forItem: "real/file"))
        // `masks` itself replaced by a link.
        let out2 = try temporaryFolder()
        try FileManager.default.createSymbolicLink(atPath: out2 + "/masks", withDestinationPath: elsewhere)
        XCTAssertThrowsError(try MaskFileLayout(outputDirectory: out2).maskPath(forItem: "a.jpg"))
    }

    // MARK: overlay

    func testOverlayTintsInsideAndOutlinesBoundary() throws {
        let (w, h) = (5, 4)
        let image = RGBImage(width: w, height: h, pixels: [UInt8](repeating: 100, count: w * h * 3))
        // A 3x3 block at rows 0-2, columns 1-3: only (row 1, column 2) is interior.
        var mask = [UInt8](repeating: 0, count: w * h)
        for y in 0...2 { for x in 1...3 { mask[y * w + x] = 255 } }
        let pixels = try Overlay.pixels(image: image, mask: mask)
        func pixel(_ x: Int, _ y: Int) -> [UInt8] { Array(pixels[(3 * (y * w + x))..<(3 * (y * w + x) + 3)]) }
        XCTAssertEqual(pixel(2, 1), [178, 50, 50])     // 50% red over gray 100, rounded
        XCTAssertEqual(pixel(1, 1), [255, 0, 0])       // boundary: solid
        XCTAssertEqual(pixel(2, 0), [255, 0, 0])       // touches the image edge: boundary
        XCTAssertEqual(pixel(0, 0), [100, 100, 100])   // outside: untouched
        XCTAssertEqual(pixel(2, 3), [100, 100, 100])
        let decoded = try ImageDecoder().decode(try Overlay.png(image: image, mask: mask))
        XCTAssertEqual(decoded, RGBImage(width: w, height: h, pixels: pixels))
        XCTAssertThrowsError(try Overlay.pixels(image: image, mask: [1, 0]))
    }

    func temporaryFolder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fssam-export-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }
}

import XCTest
import Models
@testable import Pipeline
import StageCache

/// Bad input never stops a run: every kind of broken item is one `errors.jsonl` line naming the
/// item, the stage and the reason, the unusual-but-valid images (grey, alpha, 16-bit, CMYK) are
/// segmented, nothing is written outside `--out`, and the report files stay canonical.
final class RunInputsTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fssam-inputs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    func write(_ bytes: [UInt8], _ name: String) throws { try AtomicFile.write(bytes, to: path(name)) }

    func pattern(_ w: Int, _ h: Int, bands: Int, seed: Int) -> [UInt8] {
        (0..<(w * h * bands)).map { UInt8((($0 / bands) % w * 5 + ($0 / bands) / w * 3 + ($0 % bands) * 40 + seed * 29) % 256) }
    }

    func testEveryKindOfBadItemIsOneErrorLineAndTheRestComplete() async throws {
        try write(try ImageEncoder.png(width: 40, height: 40, bands: 3, pixels: pattern(40, 40, bands: 3, seed: 0)), "data/support.png")
        var mask = [UInt8](repeating: 0, count: 40 * 40)
        for row in 8..<28 { for col in 6..<30 { mask[row * 40 + col] = 255 } }
        try write(try ImageEncoder.png(width: 40, height: 40, bands: 1, pixels: mask), "data/support-mask.png")

        // Valid but unusual: handled (converted to 8-bit RGB as OpenCV's imread does).
        try write(try ImageEncoder.png(width: 32, height: 24, bands: 1, pixels: pattern(32, 24, bands: 1, seed: 1)), "data/grey.png")
        try write(try ImageEncoder.png(width: 32, height: 24, bands: 4, pixels: pattern(32, 24, bands: 4, seed: 2)), "data/rgba.png")
        try write(try ImageEncoder.png16(width: 32, height: 24, values: (0..<(32 * 24)).map { UInt16(($0 * 97) % 65536) }), "data/grey16.png")
        try write(try ImageEncoder.jpeg(width: 32, height: 24, bands: 4, pixels: pattern(32, 24, bands: 4, seed: 3)), "data/cmyk.jpg")
        // Broken.
        let good = try ImageEncoder.png(width: 32, height: 24, bands: 3, pixels: pattern(32, 24, bands: 3, seed: 4))
        try write([], "data/empty.png")
        try write(Array(good.prefix(good.count / 2)), "data/truncated.png")
        try write(Array("this is a text file, not an image\n".utf8), "data/text.jpg")
        try write(try ImageEncoder.png(width: 300, height: 300, bands: 3, pixels: pattern(300, 300, bands: 3, seed: 5)), "data/big.png")
        try write(good, "data/good.png")
        let manifest = """
            {"id": "grey", "path": "grey.png"}
            {"id": "rgba", "path": "rgba.png"}
            {"id": "grey16", "path": "grey16.png"}
            {"id": "cmyk", "path": "cmyk.jpg"}
            {"id": "empty", "path": "empty.png"}
            {"id": "truncated", "path": "truncated.png"}
            {"id": "text", "path": "text.jpg"}
            {"id": "missing", "path": "nope.png"}
            {"id": "bomb", "path": "big.png"}
            {"id": "../escape", "path": "good.png"}
            {"id": "/abs", "path": "good.png"}
            {"id": "grey", "path": "good.png"}
            this line is not JSON
            {"id": "badsum", "path": "good.png", "sha256": "\(String(repeating: "ab", count: 32))"}

            """
        try write(Array(manifest.utf8), "data/items.jsonl")

        let (model, digests) = try RunExecutorTests.model()
        let store = try CacheStore(directory: path("cache"))
        var configuration = RunConfiguration(supports: [Episode.SupportFiles(image: path("data/support.png"), mask: path("data/support-mask.png"))],
                                             outputDirectory: path("out"), maxPixels: 200 * 200)
        configuration.overlays = true
        configuration.probabilities = true
        let executor = try RunExecutor(model: model, weights: digests, store: store, configuration: configuration)
        let summary = try await executor.run(try ManifestListing(path: path("data/items.jsonl")))
        try await store.flushAndClose()

        XCTAssertEqual(summary.succeeded, 4, "grey, rgba, grey16, cmyk are segmented")
        let results = try lines("out/results.jsonl").map { $0["id"] as? String }
        XCTAssertEqual(results, ["cmyk", "grey", "grey16", "rgba"])
        let errors = try lines("out/errors.jsonl")
        let byID = Dictionary(grouping: errors, by: { $0["id"] as? String ?? "?" })
        func expect(_ id: String, stage: String, _ words: String..., file: StaticString = #filePath, line: UInt = #line) {
            guard let entries = byID[id], let entry = entries.first else { return XCTFail("no error line for \(id): \(errors)", file: file, line: line) }
            XCTAssertEqual(entry["stage"] as? String, stage, id, file: file, line: line)
            let reason = (entry["reason"] as? String ?? "").lowercased()
            for word in words { XCTAssertTrue(reason.contains(word), "\(id): '\(reason)' should say '\(word)'", file: file, line: line) }
        }
        expect("empty", stage: "decode", "empty")
        expect("truncated", stage: "decode")
        expect("text", stage: "decode")
        expect("missing", stage: "decode", "no such file")
        expect("bomb", stage: "decode", "pixel")
        expect("../escape", stage: "input", "outside")
        expect("/abs", stage: "input", "absolute")
        expect("grey", stage: "input", "duplicate")
        expect("badsum", stage: "decode", "sha-256")
        XCTAssertTrue(errors.contains { ($0["reason"] as? String ?? "").contains("line 13") }, "the unparsable line is named: \(errors)")
        XCTAssertEqual(summary.failed, 10)
        XCTAssertEqual(errors.count, 10)

        // Canonical order (by id bytes) and nothing outside --out.
        let ids = errors.map { $0["id"] as? String ?? "" }
        XCTAssertEqual(ids, ids.sorted { ItemOrder.precedes($0, $1) })
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("escape.png")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/abs.png"))
        for id in ["cmyk", "grey", "grey16", "rgba"] {
            for folder in ["masks", "overlays", "probabilities"] {
                XCTAssertTrue(FileManager.default.fileExists(atPath: path("out/\(folder)/\(id).png")), "\(folder)/\(id).png")
            }
        }
        let overlay = try ImageDecoder().decodeFile(path("out/overlays/grey.png"))
        XCTAssertEqual([overlay.width, overlay.height], [32, 24])
        let probabilities = try ImageDecoder().decodeLabelFile(path("out/probabilities/grey.png"))
        let maskPNG = try ImageDecoder().decodeLabelFile(path("out/masks/grey.png"))
        // The mask is decided on float logits; the 8-bit probability agrees except within rounding of 0.5.
        for (p, m) in zip(probabilities.values, maskPNG.values) where p != 127 && p != 128 {
            XCTAssertEqual(p >= 128, m == 255)
        }
        let predictions = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("out/predictions.json")))) as? [[String: Any]]
        XCTAssertEqual(predictions?.map { $0["image_id"] as? String }, ["cmyk", "grey", "grey16", "rgba"])
        XCTAssertTrue(predictions?.allSatisfy { ($0["score"] as? Double).map { (0...1).contains($0) } ?? false } ?? false)
    }

    func lines(_ name: String) throws -> [[String: Any]] {
        try String(decoding: Data(contentsOf: URL(fileURLWithPath: path(name))), as: UTF8.self).split(separator: "\n").map {
            try XCTUnwrap(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }
}

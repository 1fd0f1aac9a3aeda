import XCTest
import FixtureSupport
@testable import Pipeline

/// The pieces `fssam run` is assembled from: the bounded-memory sorter behind the report files,
/// the support-set file, and the pipeline file's parameters and persistence.
final class RunPlumbingTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fssam-plumbing-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    // MARK: SortedSpill

    /// With a memory limit of a few lines the spill writes many runs; reading merges them into
    /// exactly the order of an in-memory sort by (id bytes, line bytes), duplicates kept.
    func testSpillMergesRunsIntoTheCanonicalOrder() throws {
        var generator = SystemRandomNumberGenerator()
        var entries: [(String, String)] = []
        for i in 0..<5000 {
            let id = ["a", "b/c", "b-c", "é", "Z", "a/b"][i % 6] + String(UInt32.random(in: 0...500, using: &generator))
            entries.append((id, "{\"id\":\"\(id)\",\"n\":\(i % 7)}"))
        }
        let spill = SortedSpill(directory: directory.path, memoryLimit: 4096)
        for (id, line) in entries { try spill.append(key: id, line: line) }
        let runs = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".run") }
        XCTAssertGreaterThan(runs.count, 10, "the limit forces spilling")
        var merged: [String] = []
        try spill.forEachSorted { merged.append(String(decoding: $0, as: UTF8.self)) }
        let expected = entries.sorted { a, b in
            a.0 != b.0 ? ItemOrder.precedes(a.0, b.0) : ItemOrder.precedes(a.1, b.1)
        }.map(\.1)
        XCTAssertEqual(merged, expected)
        XCTAssertEqual(spill.count, 5000)
    }

    func testSpillRunFilesAreRemoved() throws {
        do {
            let spill = SortedSpill(directory: directory.path, memoryLimit: 64)
            for i in 0..<100 { try spill.append(key: "k\(i)", line: "line \(i)") }
            try spill.forEachSorted { _ in }
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".run") }, [])
    }

    // MARK: support-set file

    func testSupportSetFileResolvesPathsBesideIt() throws {
        try AtomicFile.write(Array("""
            supports:
              - {image: a.jpg, mask: masks/a.png}
              - image: /abs/b.jpg
                mask: b.png
            ignore_value: 255
            """.utf8), to: path("set/supports.yaml"))
        let set = try SupportSetFile.load(path: path("set/supports.yaml"))
        XCTAssertEqual(set.supports.map(\.image), [path("set/a.jpg"), "/abs/b.jpg"])
        XCTAssertEqual(set.supports.map(\.mask), [path("set/masks/a.png"), path("set/b.png")])
        XCTAssertEqual(set.ignoreValue, 255)

        try AtomicFile.write(Array(#"{"supports": [{"image": "x.png", "mask": "y.png"}]}"#.utf8), to: path("set/s.json"))
        XCTAssertEqual(try SupportSetFile.load(path: path("set/s.json")).supports.map(\.mask), [path("set/y.png")])
    }

    func testBadSupportSetFilesSayWhatIsWrong() throws {
        let cases: [(String, String)] = [
            ("supports: []", "non-empty"),
            ("supports:\n  - {image: a.jpg}\n", "support 1 needs"),
            ("supports:\n  - {image: a.jpg, mask: b.png}\nignore: 3\n", "unknown field `ignore`"),
            ("supports:\n  - {image: a.jpg, mask: b.png}\nignore_value: -1\n", "ignore_value"),
            ("[1, 2", "YAML syntax error"),
        ]
        for (i, (text, message)) in cases.enumerated() {
            try AtomicFile.write(Array(text.utf8), to: path("bad\(i).yaml"))
            XCTAssertThrowsError(try SupportSetFile.load(path: path("bad\(i).yaml")), text) { error in
                XCTAssertTrue("\(error)".contains(message), "\(error) should contain \(message)")
                XCTAssertTrue("\(error)".contains("bad\(i).yaml"), "\(error) names the file")
            }
        }
        XCTAssertThrowsError(try SupportSetFile.load(path: path("absent.yaml")))
    }

    // MARK: pipeline file → run parameters

    /// `Pipelines/fssam.yaml` is the default: loading it gives exactly the built-in parameters and
    /// persistence, so the file and the catalog cannot drift apart.
    func testDefaultPipelineFileEqualsTheBuiltInDefaults() throws {
        let file = Fixtures.packageRoot.appendingPathComponent("Pipelines/fssam.yaml").path
        let fromFile = try RunParameters(pipeline: try PipelineFileLoader().load(path: file))
        let builtIn = try RunParameters()
        XCTAssertEqual(fromFile, builtIn)
        XCTAssertTrue(builtIn.persists("dino_features", .support))
        XCTAssertFalse(builtIn.persists("dino_features", .query))
        XCTAssertTrue(builtIn.persists("sam2_features", .query), "re-tunes of IMR / SCMA must not need the encoder")
        XCTAssertTrue(builtIn.persists("imr", .query))
        XCTAssertFalse(builtIn.persists("scma", .query))
    }

    func testPipelineFileSettingsAreHonouredOrRefused() throws {
        let text = try String(contentsOfFile: Fixtures.packageRoot.appendingPathComponent("Pipelines/fssam.yaml").path, encoding: .utf8)
        let loader = PipelineFileLoader()
        // Query SAM 2 features recomputed (to save disk), IMR at 2: both honoured.
        let tuned = text.replacingOccurrences(of: "parameters: {iterations: 3}", with: "parameters: {iterations: 2}")
            .replacingOccurrences(of: "  - name: sam2_features\n    inputs: {image: decode}\n    persistence: persist",
                                  with: "  - name: sam2_features\n    inputs: {image: decode}\n    persistence: {support: persist, query: recompute}")
        XCTAssertNotEqual(tuned.replacingOccurrences(of: "iterations: 2", with: "iterations: 3"), text)
        let parameters = try RunParameters(pipeline: try loader.load(yaml: tuned, path: "tuned.yaml"))
        XCTAssertEqual(parameters.refineIterations, 2)
        XCTAssertFalse(parameters.persists("sam2_features", .query))
        XCTAssertTrue(parameters.persists("sam2_features", .support))
        // A threshold the executor does not apply is refused, naming it.
        let threshold = text.replacingOccurrences(of: "parameters: {threshold: 0.0", with: "parameters: {threshold: 0.25")
        XCTAssertThrowsError(try RunParameters(pipeline: try loader.load(yaml: threshold, path: "t.yaml"))) {
            XCTAssertTrue("\($0)".contains("export.threshold"), "\($0)")
        }
        // Caching decode is not supported: refused rather than ignored.
        let decode = text.replacingOccurrences(of: "parameters: {max_pixels: 100000000, model_size: 512}\n    persistence: recompute",
                                               with: "parameters: {max_pixels: 100000000, model_size: 512}\n    persistence: persist")
        XCTAssertNotEqual(decode, text)
        XCTAssertThrowsError(try RunParameters(pipeline: try loader.load(yaml: decode, path: "d.yaml"))) {
            XCTAssertTrue("\($0)".contains("decode outputs are not cached"), "\($0)")
        }
        // --set still applies on top of the file.
        let overridden = try RunParameters(pipeline: try loader.load(yaml: tuned, path: "tuned.yaml"),
                                           overrides: [try PipelineOverride.parse("imr.iterations=4")])
        XCTAssertEqual(overridden.refineIterations, 4)
    }
}

import Foundation
import StageCache
import XCTest
@testable import Pipeline

final class PipelineFileTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("pipefile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private static var defaultFile: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Pipelines/fssam.yaml").path
    }

    private func write(_ yaml: String, name: String = "test.yaml") throws -> String {
        let path = directory.appendingPathComponent(name).path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Loads YAML that must fail; returns its errors (fails the test if it loads).
    private func errors(_ yaml: String, file: StaticString = #filePath, line: UInt = #line) throws -> [PipelineFileError] {
        let path = try write(yaml)
        do {
            _ = try PipelineFileLoader().load(path: path)
            XCTFail("expected the file to be refused", file: file, line: line)
            return []
        } catch let failure as PipelineFileErrors {
            for error in failure.errors {
                XCTAssertTrue(error.description.hasPrefix(path + ":"), "no file:line in \(error)", file: file, line: line)
            }
            return failure.errors
        }
    }

    /// Asserts exactly one error, of `kind`, at `line`, whose reason contains each of `words`.
    private func assertSingle(_ errors: [PipelineFileError], _ kind: PipelineFileError.Kind, line expected: Int,
                              _ words: String..., file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(errors.count, 1, "\(errors)", file: file, line: line)
        guard let error = errors.first else { return }
        XCTAssertEqual(error.kind, kind, "\(error)", file: file, line: line)
        XCTAssertEqual(error.line, expected, "\(error)", file: file, line: line)
        for word in words { XCTAssertTrue(error.reason.contains(word), "`\(word)` not in: \(error)", file: file, line: line) }
    }

    /// A valid two-stage prefix; tests append one broken stage (lines 1–6 here).
    private let prefix = """
        stages:
          - name: decode
            inputs: {image: image}
          - name: dino_features
            inputs: {image: decode}
            persistence: {support: persist, query: recompute}

        """

    // MARK: The default file

    func testDefaultFileLoadsWithTenStagesInAValidOrder() throws {
        let pipeline = try PipelineFileLoader().load(path: Self.defaultFile)
        XCTAssertEqual(pipeline.stages.map(\.name), ["decode", "dino_features", "sam2_features", "priors",
                                                     "memory_encode", "scma_prefix", "imr", "scma", "decode_mask", "export"])
        let order = pipeline.executionOrder.map(\.name)
        XCTAssertEqual(order.count, 10)
        for stage in pipeline.stages {
            for case let .stage(input) in stage.inputs.values {
                XCTAssertLessThan(order.firstIndex(of: input)!, order.firstIndex(of: stage.name)!, "\(input) → \(stage.name)")
            }
        }
        let dino = try XCTUnwrap(pipeline.stage(named: "dino_features"))
        XCTAssertEqual(dino.persistence, Persistence(support: .persist, query: .recompute))
        XCTAssertEqual(dino.parameters["input_size"], .int(560))
        XCTAssertEqual(pipeline.stage(named: "imr")?.parameters["iterations"], .int(3))
        XCTAssertEqual(pipeline.stage(named: "scma")?.parameters, ["alpha": .float(10), "calibration": .string("released")])
        XCTAssertEqual(pipeline.stage(named: "export")?.parameters["formats"], .list([.string("png"), .string("rle")]))
        XCTAssertEqual(pipeline.stage(named: "priors")?.inputs,
                       ["query_dino": .stage("dino_features"), "support_dino": .stage("dino_features"),
                        "support_mask": .source(.supportMask)])
        // The file states the catalog's defaults, so the documentation and the code cannot drift apart.
        for stage in pipeline.stages {
            XCTAssertEqual(stage.persistence, stage.kind.defaultPersistence, stage.name)
            XCTAssertEqual(stage.parameters, stage.kind.defaultParameters, stage.name)
        }
    }

    func testDefaultsFillOmittedParametersAndPersistenceAndOrderFollowsInputsNotFileOrder() throws {
        let pipeline = try PipelineFileLoader().load(path: write("""
            stages:
              - name: features
                kind: dino_features
                inputs: {image: decode}
              - name: decode
                inputs: {image: image}
            """))
        XCTAssertEqual(pipeline.stages.map(\.name), ["features", "decode"])
        XCTAssertEqual(pipeline.executionOrder.map(\.name), ["decode", "features"])
        XCTAssertEqual(pipeline.stages[0].kind.name, "dino_features")
        XCTAssertEqual(pipeline.stages[0].parameters, ["input_size": .int(560)])
        XCTAssertEqual(pipeline.stages[0].persistence, Persistence(support: .persist, query: .recompute))
        XCTAssertEqual(pipeline.stages[0].line, 2)
    }

    // MARK: Each error kind, at its line

    func testYAMLSyntaxErrorHasLineAndColumn() throws {
        let found = try errors(prefix + """
              - name: imr
                inputs: {memory: memory_encode, priors: [priors
            """)
        assertSingle(found, .syntax, line: 9, "YAML syntax error")
        XCTAssertNotNil(found.first?.column)
    }

    func testUnknownStageKindSuggestsTheClosest() throws {
        assertSingle(try errors(prefix + """
              - name: refine
                kind: imrr
                inputs: {memory: dino_features}
            """), .unknownStageKind, line: 8, "`imrr`", "did you mean `imr`?")
    }

    func testUnknownParameterSuggestsTheClosest() throws {
        assertSingle(try errors(prefix + """
              - name: dino_more
                kind: dino_features
                inputs: {image: decode}
                parameters:
                  input_sise: 448
            """), .unknownParameter, line: 11, "`input_sise`", "did you mean `input_size`?")
    }

    func testWrongParameterType() throws {
        assertSingle(try errors(prefix + """
              - name: decode2
                kind: decode
                inputs: {image: image}
                parameters:
                  model_size: large
            """), .wrongParameterType, line: 11, "decode.model_size", "expected int")
        // A quoted number is a string, not an int.
        assertSingle(try errors(prefix + """
              - name: decode2
                kind: decode
                inputs: {image: image}
                parameters: {model_size: "512"}
            """), .wrongParameterType, line: 10, "quoted")
    }

    func testOutOfRangeParameterValue() throws {
        assertSingle(try errors("""
            stages:
              - name: imr
                inputs: {memory: m, priors: p}
                parameters:
                  iterations: -1
            """).filter { $0.kind == .parameterOutOfRange }, .parameterOutOfRange, line: 5, "-1", "0...100")
        assertSingle(try errors("""
            stages:
              - name: scma
                parameters: {calibration: papers}
            """).filter { $0.kind == .parameterOutOfRange }, .parameterOutOfRange, line: 3, "released, paper")
    }

    func testMissingRequiredInput() throws {
        assertSingle(try errors(prefix + """
              - name: sam2_features
                persistence: persist
            """), .missingInput, line: 7, "`sam2_features`", "`image`", "decoded_image")
    }

    func testInputFromUnknownStage() throws {
        assertSingle(try errors(prefix + """
              - name: sam2_features
                inputs:
                  image: decoed
            """), .unknownInputSource, line: 9, "`decoed`", "did you mean `decode`?")
    }

    func testInputOfTheWrongType() throws {
        assertSingle(try errors(prefix + """
              - name: sam2_features
                inputs: {image: decode}
              - name: priors
                inputs:
                  query_dino: sam2_features
                  support_dino: dino_features
                  support_mask: support_mask
            """), .wrongInputType, line: 11, "needs dino_features", "produces sam2_features")
    }

    func testUnknownInputName() throws {
        assertSingle(try errors(prefix + """
              - name: sam2_features
                inputs: {image: decode, imag: decode}
            """), .unknownInput, line: 8, "`imag`")
    }

    func testCycleNamesItsStages() throws {
        // In the FSSAM catalog types already order the stages, so a cycle comes with a type error;
        // both are reported.
        let found = try errors(prefix + """
              - name: refine
                kind: imr
                inputs: {memory: encode, priors: prior}
              - name: encode
                kind: memory_encode
                inputs: {features: dino_features, support_mask: support_mask, priors: prior}
              - name: prior
                kind: priors
                inputs: {query_dino: refine, support_dino: dino_features, support_mask: support_mask}
            """)
        XCTAssertEqual(found.map(\.kind), [.cycle, .wrongInputType, .wrongInputType], "\(found)")
        assertSingle(found.filter { $0.kind == .cycle }, .cycle, line: 7, "refine → prior → encode → refine")
    }

    func testWellTypedCycleWithACustomCatalog() throws {
        let loop = StageKind(name: "loop", version: 1, inputs: [InputSpec("previous", .memory)], output: .memory,
                             defaultPersistence: Persistence(.persist), summary: "test kind whose output feeds itself")
        let path = try write("""
            stages:
              - name: a
                kind: loop
                inputs: {previous: c}
              - name: b
                kind: loop
                inputs: {previous: a}
              - name: c
                kind: loop
                inputs: {previous: b}
              - name: self
                kind: loop
                inputs: {previous: self}
            """)
        XCTAssertThrowsError(try PipelineFileLoader(catalog: StageCatalog([loop])).load(path: path)) { error in
            let found = (error as? PipelineFileErrors)?.errors ?? []
            XCTAssertEqual(found.map(\.kind), [.cycle, .cycle])
            XCTAssertEqual(found.map(\.line), [2, 11])
            XCTAssertEqual(found.map(\.reason), ["cycle between stages: a → b → c → a (each feeds the next)",
                                                 "cycle between stages: self → self (each feeds the next)"])
        }
    }

    func testDuplicateStageName() throws {
        assertSingle(try errors(prefix + """
              - name: decode
                inputs: {image: image}
            """), .duplicateStage, line: 7, "duplicate stage name `decode`", "line 2")
    }

    func testUnknownPersistenceValue() throws {
        assertSingle(try errors(prefix + """
              - name: sam2_features
                inputs: {image: decode}
                persistence: {support: persist, query: ephemeral}
            """), .unknownPersistence, line: 9, "`ephemeral`")
        assertSingle(try errors(prefix + """
              - name: sam2_features
                inputs: {image: decode}
                persistence: persit
            """), .unknownPersistence, line: 9, "did you mean `persist`?")
    }

    func testAllErrorsAreReportedInLineOrder() throws {
        let found = try errors("""
            stages:
              - name: decode
                inputs: {image: image}
                parameters: {max_pixel: 10}
              - name: imr
                inputs: {memory: nowhere, priors: nowhere}
                parameters: {iterations: many}
                persistence: sometimes
            """)
        XCTAssertEqual(found.map(\.kind), [.unknownParameter, .unknownInputSource, .unknownInputSource,
                                           .wrongParameterType, .unknownPersistence])
        XCTAssertEqual(found.map(\.line), [4, 6, 6, 7, 8])
    }

    // MARK: Limits

    func testFileOverTheSizeLimitIsRefused() throws {
        let path = try write(prefix + "# " + String(repeating: "x", count: PipelineFileLoader.maxFileBytes) + "\n")
        XCTAssertThrowsError(try PipelineFileLoader().load(path: path)) { error in
            let errors = (error as? PipelineFileErrors)?.errors ?? []
            XCTAssertEqual(errors.map(\.kind), [.tooLarge])
            XCTAssertTrue(errors.first?.description.hasPrefix(path) ?? false)
        }
    }

    func testAliasBombAndDeepNestingAreRefused() throws {
        var bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...8 { bomb += "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]\n" }
        bomb += "stages: []\n"
        XCTAssertEqual(try errors(bomb).map(\.kind), [.tooLarge])

        let deep = "stages: " + String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000) + "\n"
        assertSingle(try errors(deep), .structure, line: 1, "nesting")
    }

    // MARK: Overrides

    func testOverrideParsing() throws {
        let override = try PipelineOverride.parse("export.threshold=0.5")
        XCTAssertEqual(override.stage, "export")
        XCTAssertEqual(override.parameter, "threshold")
        XCTAssertEqual(override.value, "0.5")
        XCTAssertThrowsError(try PipelineOverride.parse("imr.iterations")) { error in
            XCTAssertEqual((error as? PipelineFileErrors)?.errors.first?.kind, .badOverride)
            XCTAssertEqual((error as? PipelineFileErrors)?.errors.first?.description.hasPrefix("--set imr.iterations:"), true)
        }
        XCTAssertThrowsError(try PipelineOverride.parse("iterations=2"))
    }

    func testGoodOverridesAreApplied() throws {
        let pipeline = try PipelineFileLoader().load(path: Self.defaultFile)
        let changed = try pipeline.applying([
            PipelineOverride.parse("imr.iterations=2"),
            PipelineOverride.parse("scma.calibration=paper"),
            PipelineOverride.parse("scma.alpha=4"),
            PipelineOverride.parse("export.formats=png,overlay"),
        ])
        XCTAssertEqual(changed.stage(named: "imr")?.parameters["iterations"], .int(2))
        XCTAssertEqual(changed.stage(named: "scma")?.parameters, ["alpha": .float(4), "calibration": .string("paper")])
        XCTAssertEqual(changed.stage(named: "export")?.parameters["formats"], .list([.string("png"), .string("overlay")]))
        XCTAssertEqual(pipeline.stage(named: "imr")?.parameters["iterations"], .int(3), "the original is unchanged")
    }

    func testBadOverridesNameTheOverrideText() throws {
        let pipeline = try PipelineFileLoader().load(path: Self.defaultFile)
        let cases: [(String, PipelineFileError.Kind, String)] = [
            ("imr.iteration=2", .unknownParameter, "did you mean `iterations`?"),
            ("imr.iterations=two", .wrongParameterType, "expected int"),
            ("imr.iterations=-1", .parameterOutOfRange, "out of range"),
            ("scma.calibration=papers", .parameterOutOfRange, "released, paper"),
            ("export.formats=png,gif", .parameterOutOfRange, "gif"),
            ("imx.iterations=2", .badOverride, "did you mean `imr`?"),
        ]
        for (text, kind, words) in cases {
            XCTAssertThrowsError(try pipeline.applying([PipelineOverride.parse(text)]), text) { error in
                let errors = (error as? PipelineFileErrors)?.errors ?? []
                XCTAssertEqual(errors.map(\.kind), [kind], text)
                XCTAssertEqual(errors.first?.location, .override(text))
                XCTAssertTrue(errors.first?.description.hasPrefix("--set \(text): ") ?? false, "\(errors)")
                XCTAssertTrue(errors.first?.reason.contains(words) ?? false, "\(errors)")
            }
        }
    }
}

import Pipeline
import XCTest

/// The shared YAML/JSON reader's limits, measured before Yams composes (its composer, and every
/// walk of the tree, recurse): nesting through aliases, expanded node count, repeated keys.
final class YAMLDocumentTests: XCTestCase {
    func problem(_ text: String) -> YAMLDocumentError? {
        do { _ = try YAMLDocument.parse(text, path: "f.yaml", what: "test file"); return nil } catch {
            return error as? YAMLDocumentError
        }
    }

    func testNestingCountsThroughAliases() {
        // Each line nests one level more than the anchor it names: shallow text, 200 levels deep.
        let chain = "a0: &a0 [x]\n" + (1..<200).map { "a\($0): &a\($0) [*a\($0 - 1)]\n" }.joined()
        let error = problem(chain)
        XCTAssertEqual(error?.kind, .structure)
        XCTAssertEqual(error?.line, 64, "the first alias that makes the tree deeper than 64 levels")
        XCTAssertTrue(error?.reason.contains("nesting deeper than 64 levels") ?? false, "\(String(describing: error))")
        XCTAssertNil(problem("a0: &a0 [x]\n" + (1..<10).map { "a\($0): &a\($0) [*a\($0 - 1)]\n" }.joined()))
    }

    func testBlockNestingIsMeasuredToo() {
        let deep = (0..<70).map { String(repeating: " ", count: $0) + "k\($0):\n" }.joined() + String(repeating: " ", count: 70) + "v\n"
        XCTAssertEqual(problem(deep)?.kind, .structure)
    }

    func testRepeatedKeysNameBothLines() {
        let error = problem("a: 1\nb:\n  c: 2\n  c: 3\n")
        XCTAssertEqual(error?.description, "f.yaml:4:3: duplicate key 'c' (first at line 3): each key may appear once in a mapping")
        XCTAssertNil(problem("a: {c: 1}\nb: {c: 2}\n"), "the same key in two mappings is fine")
        XCTAssertEqual(problem("{\"x\": 1, \"x\": 2}")?.line, 1)
    }

    func testAliasBombIsCountedExpanded() {
        var bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...5 { bomb += "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]\n" }
        XCTAssertEqual(problem(bomb)?.kind, .tooLarge)
    }

    func testSyntaxErrorsStillComeFromYamsWithTheirPosition() {
        let error = problem("a: [1, 2\nb: 3\n")
        XCTAssertEqual(error?.kind, .syntax)
        XCTAssertNotNil(error?.line)
    }
}

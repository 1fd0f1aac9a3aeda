import Checkpoint
import FixtureSupport
import XCTest

/// Nesting is bounded while the pickle is read: a container placed inside another may not change
/// afterwards, since that could grow a chain of any depth through memo references, which the old
/// after-the-fact check could not see (the value overflowed the stack when freed).
final class UnpicklerNestingTests: XCTestCase {
    typealias P = TorchFileBuilder.P

    func load(_ pickle: [UInt8]) throws -> PickleValue {
        try Unpickler(data: pickle, source: "test.pkl") { key, _, _ in throw CheckpointError("test.pkl", "no storage \(key)") }.load()
    }

    func assertRefused(_ pickle: [UInt8], saying words: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try load(pickle), file: file, line: line) { error in
            XCTAssertTrue("\(error)".hasPrefix("test.pkl: pickle byte "), "\(error)", file: file, line: line)
            XCTAssertTrue("\(error)".contains(words), "\(error)", file: file, line: line)
        }
    }

    func testNestingAtTheLimitLoadsAndOneMoreLevelIsRefusedAtItsOpcode() throws {
        let limit = Unpickler.Limits().maximumNesting
        func nested(_ levels: Int) -> [UInt8] {
            P.proto2 + [UInt8](repeating: P.emptyList[0], count: levels) + [UInt8](repeating: P.append[0], count: levels - 1) + P.stop
        }
        XCTAssertNoThrow(try load(nested(limit)))
        assertRefused(nested(limit + 1), saying: "containers nested deeper than \(limit) levels")
    }

    func testAListPlacedInAnotherCannotGrowThroughTheMemo() {
        // outer = []; inner = [] (memo 0); outer.append(inner); then memo 0 (inner) gets another item.
        let pickle = P.proto2 + P.emptyList + P.emptyList + P.put(0) + P.append + P.get(0) + P.int(1) + P.append + P.stop
        assertRefused(pickle, saying: "APPEND changes a list or dict that is already inside another container")
    }

    func testAContainerInsideItselfIsRefused() {
        let pickle = P.proto2 + P.emptyList + P.put(0) + P.get(0) + P.append + P.stop
        assertRefused(pickle, saying: "APPEND puts a container inside itself")
    }

    func testSharedFinishedContainersStillLoad() throws {
        // {'a': x, 'b': x} with x = [1] built once and referenced twice, as torch writes shared values.
        let x = P.emptyList + P.int(1) + P.append + P.put(0)
        let value = try load(P.proto2 + P.dict([("a", x), ("b", P.get(0))]) + P.stop)
        XCTAssertEqual(value.dictEntries?.count, 2)
    }
}

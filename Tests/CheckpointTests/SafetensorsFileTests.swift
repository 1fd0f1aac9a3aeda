import XCTest
import Checkpoint
import FixtureSupport

final class SafetensorsFileTests: XCTestCase {
    func testReadsPrimitivesFixture() throws {
        let file = try SafetensorsFile(path: Fixtures.path("primitives.safetensors"))
        XCTAssertEqual(file.metadata["format"], "fssam-fixtures-v1")
        let map = try XCTUnwrap(file.entry("in.map40"))
        XCTAssertEqual(map.dtype, .f32)
        XCTAssertEqual(map.shape, [1, 1, 40, 40])
        let tensor = try file.tensor("in.map40")
        XCTAssertEqual(tensor.shape, [1, 1, 40, 40])
        let label = try file.uint8("in.cv_label375x500")
        XCTAssertEqual(label.count, 375 * 500)
        XCTAssertTrue(label.allSatisfy { $0 == 0 || $0 == 1 || $0 == 255 })
        XCTAssertThrowsError(try file.tensor("no.such.tensor"))
    }
}

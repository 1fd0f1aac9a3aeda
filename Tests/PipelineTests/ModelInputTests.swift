import XCTest
import Checkpoint
import FixtureSupport
import Tensor
@testable import Pipeline

final class ModelInputTests: XCTestCase {
    func testImageIsResizedWithOpenCVLinearAndLaidOutCHW() throws {
        let primitives = try SafetensorsFile(path: Fixtures.path("primitives.safetensors"))
        // The fixture resizes a float RGB 50x40 (HWC) image to 64x64 with cv2 INTER_LINEAR.
        let input = try primitives.tensor("in.cv_rgb50x40")
        let expected = try primitives.tensor("cv2_linear.rgb50x40to64x64")
        // The fixture input is float; our decoder gives bytes. Check the fixture is byte-valued
        // so the comparison is meaningful.
        XCTAssertTrue(input.storage.allSatisfy { $0 == $0.rounded() && $0 >= 0 && $0 <= 255 },
                      "fixture input is not 8-bit valued; this test needs byte pixels")
        let rgb = RGBImage(width: input.shape[1], height: input.shape[0], pixels: input.storage.map { UInt8($0) })
        let chw = ModelInput.image(rgb, size: 64)
        XCTAssertEqual(chw.shape, [3, 64, 64])
        var worst: Float = 0
        for p in 0..<(64 * 64) { for c in 0..<3 { worst = max(worst, abs(chw.storage[c * 4096 + p] - expected.storage[p * 3 + c])) } }
        XCTAssertLessThanOrEqual(worst, 1e-4)
    }

    func testSupportLabelBinarisesAndKeepsIgnore() throws {
        let mask = LabelImage(width: 4, height: 2, values: [0, 1, 255, 7, 0, 0, 255, 3])
        let plain = try ModelInput.supportLabel(mask, imageWidth: 4, imageHeight: 2, ignoreValue: nil, size: 4)
        XCTAssertEqual(plain.count, 16)
        XCTAssertEqual(Set(plain), [0, 1])
        let withIgnore = try ModelInput.supportLabel(mask, imageWidth: 4, imageHeight: 2, ignoreValue: 255, size: 4)
        XCTAssertEqual(Set(withIgnore), [0, 1, 255])
        // Row 0 of the 4x4 result samples source row 0: 0, 1, 255 (ignore), 7 → 0, 1, 255, 1.
        XCTAssertEqual(Array(withIgnore[0..<4]), [0, 1, 255, 1])
    }

    func testSupportLabelErrorsNameTheProblem() {
        let mask = LabelImage(width: 3, height: 2, values: [0, 0, 0, 0, 0, 0])
        XCTAssertThrowsError(try ModelInput.supportLabel(mask, imageWidth: 4, imageHeight: 2, ignoreValue: nil)) {
            XCTAssertTrue("\($0)".contains("3x2 but its image is 4x2"), "\($0)")
        }
        XCTAssertThrowsError(try ModelInput.supportLabel(mask, imageWidth: 3, imageHeight: 2, ignoreValue: nil)) {
            XCTAssertEqual($0 as? SupportMaskError, .noTarget(afterResize: false))
        }
        let onlyIgnore = LabelImage(width: 2, height: 1, values: [255, 0])
        XCTAssertThrowsError(try ModelInput.supportLabel(onlyIgnore, imageWidth: 2, imageHeight: 1, ignoreValue: 255)) {
            XCTAssertEqual($0 as? SupportMaskError, .noTarget(afterResize: false))
        }
        // A one-pixel-wide target in a 1000-wide mask is dropped by nearest sampling to 8.
        var values = [UInt16](repeating: 0, count: 1000)
        values[501] = 1
        XCTAssertThrowsError(try ModelInput.supportLabel(LabelImage(width: 1000, height: 1, values: values),
                                                         imageWidth: 1000, imageHeight: 1, ignoreValue: nil, size: 8)) {
            XCTAssertEqual($0 as? SupportMaskError, .noTarget(afterResize: true))
        }
    }

    func testPostprocessingMatchesTheReference() throws {
        let primitives = try SafetensorsFile(path: Fixtures.path("primitives.safetensors"))
        let logits = try primitives.tensor("in.map512")
        let expected = try primitives.uint8("post.mask375x500")
        let mask = MaskPostprocessing.binaryMask(logits: logits, height: 375, width: 500)
        XCTAssertEqual(mask.count, expected.count)
        let differing = zip(mask, expected).filter { $0 != $1 }.count
        XCTAssertEqual(differing, 0, "\(differing) of \(mask.count) pixels differ from the reference mask")

        let tiny = try primitives.tensor("post.tiny_logits")
        let tinyMask = try primitives.uint8("post.tiny_mask")
        XCTAssertEqual(tiny.storage.map { MaskPostprocessing.isForeground($0) ? UInt8(1) : 0 }, tinyMask,
                       "tiny logits \(tiny.storage)")
    }
}

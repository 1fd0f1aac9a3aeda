import XCTest
import Checkpoint
import FixtureSupport
@testable import Tensor

/// Every resampling kernel against `primitives.safetensors` (fixtures/README.md "Primitives").
/// Tolerances: 1e-6 × value range, i.e. 2e-6 on maps and 3e-4 on 0..255 images; nearest exact.
final class PrimitivesParityTests: XCTestCase {
    static let file = try! SafetensorsFile(path: Fixtures.path("primitives.safetensors"))
    let mapTolerance: Float = 2e-6
    let imageTolerance: Float = 3e-4

    func t(_ name: String) throws -> Tensor { try Self.file.tensor(name) }

    func testBilinearAlignCorners() throws {
        assertParity(Resampling.bilinear(try t("in.map40"), height: 64, width: 64, alignCorners: true),
                     try t("bilinear_ac.40to64"), tolerance: mapTolerance, "bilinear_ac.40to64")
        for size in [560, 32, 40] {
            let name = "bilinear_ac.512to\(size)"
            assertParity(Resampling.bilinear(try t("in.map512"), height: size, width: size, alignCorners: true),
                         try t(name), tolerance: mapTolerance, name)
        }
    }

    func testBilinearHalfPixel() throws {
        assertParity(Resampling.bilinear(try t("in.map128"), height: 160, width: 160, alignCorners: false),
                     try t("bilinear_noac.128to160"), tolerance: mapTolerance, "bilinear_noac.128to160")
    }

    func testBilinearAntialiased() throws {
        let map = try t("in.map512")
        assertParity(Resampling.bilinearAntialiased(map, height: 128, width: 128),
                     try t("bilinear_aa.512to128"), tolerance: mapTolerance, "bilinear_aa.512to128")
        let mask = Tensor(shape: map.shape, storage: map.storage.map { $0 > 0.2 ? 10 : -10 })
        assertParity(Resampling.bilinearAntialiased(mask, height: 128, width: 128),
                     try t("bilinear_aa.mask512to128"), tolerance: 2e-6, "bilinear_aa.mask512to128")
    }

    func testNearest() throws {
        assertParity(Resampling.nearest(try t("in.map512"), height: 32, width: 32),
                     try t("nearest.512to32"), tolerance: 0, "nearest.512to32")
        assertParity(Resampling.nearest(try t("in.fpn16"), scaleFactor: 2),
                     try t("nearest.x2.16to32"), tolerance: 0, "nearest.x2.16to32")
    }

    func testBicubic() throws {
        let pos = Resampling.bicubic(try t("in.pos37"), scaleFactor: (40.1 / 37, 40.1 / 37))
        XCTAssertEqual(pos.shape, [1, 8, 40, 40])
        assertParity(pos, try t("bicubic.pos37to40"), tolerance: mapTolerance, "bicubic.pos37to40")
        assertParity(Resampling.bicubic(try t("in.pos7"), height: 128, width: 128),
                     try t("bicubic.pos7to128"), tolerance: mapTolerance, "bicubic.pos7to128")
    }

    func testOpenCVLinear() throws {
        assertParity(OpenCVResize.linear(try t("in.cv_img375x500"), height: 512, width: 512),
                     try t("cv2_linear.375x500to512"), tolerance: imageTolerance, "cv2_linear.375x500to512")
        assertParity(OpenCVResize.linear(try t("in.cv_img24x32"), height: 61, width: 47),
                     try t("cv2_linear.24x32to61x47"), tolerance: imageTolerance, "cv2_linear.24x32to61x47")
        let rgb = OpenCVResize.linear(try t("in.cv_rgb50x40"), height: 64, width: 64)
        XCTAssertEqual(rgb.shape, [64, 64, 3])
        assertParity(rgb, try t("cv2_linear.rgb50x40to64x64"), tolerance: imageTolerance, "cv2_linear.rgb50x40to64x64")
    }

    func testOpenCVNearestLabels() throws {
        let out = OpenCVResize.nearest(try Self.file.uint8("in.cv_label375x500"), height: 375, width: 500,
                                       toHeight: 512, toWidth: 512)
        let expected = try Self.file.uint8("cv2_nearest.label375x500to512")
        let mismatches = zip(out, expected).filter { $0 != $1 }.count
        XCTAssertEqual(mismatches, 0, "cv2_nearest.label375x500to512: \(mismatches) of \(expected.count) labels differ")
    }

    func testBilinearToOriginalSizeForEvaluation() throws {
        let logits = try t("in.map512").reshaped([1, 512, 512])
        let up = Resampling.bilinear(logits, height: 375, width: 500, alignCorners: true)
        assertParity(up, try t("post.up375x500"), tolerance: mapTolerance, "post.up375x500")
    }
}

/// Evaluation post-processing: `sigmoid ≥ 0.5` in float32 (tiny negative logits count as
/// foreground, as in PyTorch).
final class ThresholdParityTests: XCTestCase {
    func testSigmoidThresholds() throws {
        let file = PrimitivesParityTests.file
        let logits = try file.tensor("post.tiny_logits")
        let sigmoid = logits.sigmoid()
        assertParity(sigmoid, try file.tensor("post.tiny_sigmoid"), tolerance: 6e-8, "post.tiny_sigmoid")
        let mask = sigmoid.storage.map { $0 >= 0.5 ? UInt8(1) : 0 }
        XCTAssertEqual(mask, try file.uint8("post.tiny_mask"), "post.tiny_mask")

        let up = Resampling.bilinear(try file.tensor("in.map512").reshaped([1, 512, 512]), height: 375, width: 500, alignCorners: true)
        let reference = try file.tensor("post.up375x500")
        let expected = try file.uint8("post.mask375x500")
        let ours = up.sigmoid().storage.map { $0 >= 0.5 ? UInt8(1) : 0 }
        // Equal wherever the reference logit is clear of the bilinear tolerance (README).
        let flips = (0..<ours.count).filter { ours[$0] != expected[$0] && abs(reference.storage[$0]) > 2e-6 }.count
        XCTAssertEqual(flips, 0, "post.mask375x500: \(flips) pixels differ away from the threshold")
    }
}

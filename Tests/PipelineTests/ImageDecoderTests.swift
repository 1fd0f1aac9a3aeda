import XCTest
@testable import Pipeline

/// Decoding follows OpenCV's `imread` conventions and refuses bad files with a reason.
final class ImageDecoderTests: XCTestCase {
    let decoder = ImageDecoder()

    /// A 5x3 RGB test pattern with distinct values per pixel and channel.
    func pattern(width: Int = 5, height: Int = 3, bands: Int = 3) -> [UInt8] {
        (0..<(width * height * bands)).map { UInt8(truncatingIfNeeded: $0 * 7 + 3) }
    }

    func testPNGRoundTripIsExact() throws {
        let pixels = pattern()
        let png = try ImageEncoder.png(width: 5, height: 3, bands: 3, pixels: pixels)
        let image = try decoder.decode(png)
        XCTAssertEqual(image, RGBImage(width: 5, height: 3, pixels: pixels))
    }

    func testGrayscaleIsReplicatedToRGB() throws {
        let gray = pattern(bands: 1)
        let image = try decoder.decode(try ImageEncoder.png(width: 5, height: 3, bands: 1, pixels: gray))
        XCTAssertEqual(image.pixels, gray.flatMap { [$0, $0, $0] })
    }

    func testAlphaIsDroppedNotComposited() throws {
        let rgba = pattern(bands: 4)
        let image = try decoder.decode(try ImageEncoder.png(width: 5, height: 3, bands: 4, pixels: rgba))
        let expected = (0..<15).flatMap { i in rgba[(4 * i)..<(4 * i + 3)] }
        XCTAssertEqual(image.pixels, expected)
    }

    func testSixteenBitKeepsTheHighByte() throws {
        // OpenCV's IMREAD_COLOR strips 16-bit PNG samples to their high byte.
        let values: [UInt16] = [0x0000, 0x12FF, 0xFF00, 0xFFFF, 0x8080, 0x0100]
        let png = try ImageEncoder.png16(width: 3, height: 2, values: values)
        let image = try decoder.decode(png)
        XCTAssertEqual(image.pixels, values.flatMap { v in [UInt8(v >> 8), UInt8(v >> 8), UInt8(v >> 8)] })
    }

    func testEXIFOrientationIsApplied() throws {
        // A 4 wide x 2 high image tagged "rotate 90° clockwise" (orientation 6) displays as 2x4.
        var pixels = [UInt8](repeating: 0, count: 4 * 2 * 3)
        for c in 0..<3 { pixels[c] = 255 }  // top-left pixel white
        let jpeg = try ImageEncoder.jpeg(width: 4, height: 2, bands: 3, pixels: pixels, quality: 100, orientation: 6)
        let image = try decoder.decode(jpeg)
        XCTAssertEqual(image.width, 2)
        XCTAssertEqual(image.height, 4)
        // After a clockwise rotation the stored top-left corner is at the top-right.
        let topRight = image.pixels[(0 * 2 + 1) * 3]
        let topLeft = image.pixels[0]
        XCTAssertGreaterThan(topRight, topLeft)
    }

    func testBadFilesAreRefusedWithReasons() throws {
        XCTAssertThrowsError(try decoder.decode([])) { XCTAssertEqual($0 as? ImageError, .empty) }
        XCTAssertThrowsError(try decoder.decode(Array("not an image at all".utf8))) {
            XCTAssertEqual($0 as? ImageError, .notSupported("a text file"))
        }
        let jpeg = try ImageEncoder.jpeg(width: 64, height: 64, bands: 3, pixels: [UInt8](repeating: 90, count: 64 * 64 * 3))
        XCTAssertThrowsError(try decoder.decode(Array(jpeg.prefix(jpeg.count / 2)))) {
            guard case .decode = $0 as? ImageError else { return XCTFail("expected a decode error for a truncated JPEG, got \($0)") }
        }
        XCTAssertThrowsError(try decoder.decodeFile("/nonexistent/image.png")) {
            guard case .unreadable = $0 as? ImageError else { return XCTFail("got \($0)") }
        }
    }

    func testPixelLimitIsCheckedBeforeDecoding() throws {
        let png = try ImageEncoder.png(width: 50, height: 40, bands: 3, pixels: [UInt8](repeating: 1, count: 50 * 40 * 3))
        XCTAssertThrowsError(try ImageDecoder(maxPixels: 1999).decode(png)) {
            XCTAssertEqual($0 as? ImageError, .tooLarge(width: 50, height: 40, limit: 1999))
        }
        XCTAssertNoThrow(try ImageDecoder(maxPixels: 2000).decode(png))
    }

    func testLabelsKeepTheirValues() throws {
        let labels: [UInt8] = [0, 1, 255, 0, 1, 7]
        let label = try decoder.decodeLabel(try ImageEncoder.png(width: 3, height: 2, bands: 1, pixels: labels))
        XCTAssertEqual(label.values, labels.map(UInt16.init))
        let wide = try decoder.decodeLabel(try ImageEncoder.png16(width: 3, height: 1, values: [0, 1, 300]))
        XCTAssertEqual(wide.values, [0, 1, 300])
        // Gray + alpha is still single-channel.
        let withAlpha = try decoder.decodeLabel(try ImageEncoder.png(width: 2, height: 1, bands: 2, pixels: [1, 255, 0, 255]))
        XCTAssertEqual(withAlpha.values, [1, 0])
    }

    func testColourMaskIsRefused() throws {
        let rgb = try ImageEncoder.png(width: 2, height: 1, bands: 3, pixels: [255, 0, 0, 0, 0, 0])
        XCTAssertThrowsError(try decoder.decodeLabel(rgb)) {
            guard case .unsupported = $0 as? ImageError else { return XCTFail("got \($0)") }
        }
    }
}

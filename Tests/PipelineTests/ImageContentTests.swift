import Foundation
import Pipeline
import XCTest

/// Decoding is by content and only through the JPEG, PNG, WebP and TIFF loaders: every other
/// format libvips (or ImageMagick behind it) could parse is refused, named as what it is, for
/// images, masks and labels alike, whatever the file is called.
final class ImageContentTests: XCTestCase {
    let decoder = ImageDecoder(maxPixels: 4_000_000)
    var folder: String!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("fssam-content-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: folder) }

    /// Small but well-formed files of formats libvips can load in Debian's build.
    static let hostile: [(name: String, bytes: [UInt8], detected: String)] = [
        ("svg", Array("""
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" width="16" height="16"><rect width="16" height="16" fill="#f00"/></svg>
            """.utf8), "an SVG document"),
        ("pdf", Array("%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n".utf8), "a PDF document"),
        ("postscript", Array("%!PS-Adobe-3.0\nnewpath 0 0 moveto 10 10 lineto stroke showpage\n".utf8), "a PostScript document"),
        ("ppm", Array("P6\n2 2\n255\n".utf8) + [UInt8](repeating: 200, count: 12), "a Netpbm image"),
        ("pgm", Array("P5\n2 2\n255\n".utf8) + [0, 255, 255, 0], "a Netpbm image"),
        ("fits", Array(("SIMPLE  =                    T" + String(repeating: " ", count: 50)
                        + "BITPIX  =                    8" + String(repeating: " ", count: 50)
                        + "NAXIS   =                    2" + String(repeating: " ", count: 50)
                        + "NAXIS1  =                    2" + String(repeating: " ", count: 50)
                        + "NAXIS2  =                    2" + String(repeating: " ", count: 50)
                        + "END" + String(repeating: " ", count: 2880 - 403)).utf8) + [1, 2, 3, 4], "a FITS file"),
        ("matlab", Array("MATLAB 5.0 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024".utf8)
            + [UInt8](repeating: 32, count: 116 - 76) + [UInt8](repeating: 0, count: 8) + [0x00, 0x01, 0x49, 0x4D], "a MATLAB MAT-file"),
        // GIF is not supported (the datasets are JPEG/PNG; libnsgif is one more parser to trust).
        ("gif", [0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00,
                 0x21, 0xF9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2C, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00,
                 0x02, 0x02, 0x44, 0x01, 0x00, 0x3B], "a GIF image"),
    ]

    func testOtherFormatsAreRefusedByWhatTheyAreAsImagesAndAsMasks() throws {
        for file in Self.hostile {
            let expected = "\(file.detected)"
            for (role, decode) in [("image", { (b: [UInt8]) in _ = try self.decoder.decode(b) }),
                                   ("mask", { (b: [UInt8]) in _ = try self.decoder.decodeLabel(b) })] {
                XCTAssertThrowsError(try decode(file.bytes), "\(file.name) as \(role)") { error in
                    guard case .notSupported(let detected) = error as? ImageError else {
                        return XCTFail("\(file.name) as \(role): expected 'not supported', got \(error)")
                    }
                    XCTAssertTrue(detected.hasPrefix(expected), "\(file.name): \(detected)")
                    XCTAssertTrue("\(error)".hasSuffix("not a supported image (JPEG, PNG, WebP, TIFF)"), "\(error)")
                }
            }
            // The name does not matter: a `.png` holding an SVG is an SVG.
            let path = folder + "/\(file.name).png"
            try AtomicFile.write(file.bytes, to: path)
            XCTAssertThrowsError(try decoder.decodeFile(path)) { XCTAssertTrue("\($0)".hasPrefix(expected), "\($0)") }
        }
    }

    func testSupportedFormatsAreDetectedByContent() throws {
        let pixels = [UInt8](repeating: 77, count: 4 * 3 * 3)
        let png = try ImageEncoder.png(width: 4, height: 3, bands: 3, pixels: pixels)
        let jpeg = try ImageEncoder.jpeg(width: 4, height: 3, bands: 3, pixels: pixels)
        XCTAssertEqual(ImageContent.detect(png), .supported(.png))
        XCTAssertEqual(ImageContent.detect(jpeg), .supported(.jpeg))
        XCTAssertEqual(ImageContent.detect(Array("RIFF\0\0\0\0WEBPVP8 ".utf8)), .supported(.webp))
        XCTAssertEqual(ImageContent.detect([0x49, 0x49, 0x2A, 0x00, 8, 0, 0, 0]), .supported(.tiff))
        XCTAssertEqual(ImageContent.detect([0x4D, 0x4D, 0x00, 0x2A, 0, 0, 0, 8]), .supported(.tiff))
        // A JPEG named .png still decodes: the content decides.
        try AtomicFile.write(jpeg, to: folder + "/really-a-jpeg.png")
        XCTAssertEqual(try decoder.decodeFile(folder + "/really-a-jpeg.png").width, 4)
        if case .unknown(let head) = ImageContent.detect([0x00, 0x13, 0x37, 0xFE]) {
            XCTAssertEqual(head, "00 13 37 FE")
        } else {
            XCTFail("four arbitrary bytes are unknown content")
        }
    }

    func testAFIFOOrAFolderIsRefusedByKindWithoutBlocking() throws {
        let fifo = folder + "/pipe.png"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        // Old code read with FileManager.contents, which blocks on a FIFO until a writer appears: a
        // writer is started after a delay so the old behaviour ends (with a wrong result) instead of hanging.
        let writer = DispatchWorkItem {
            let fd = open(fifo, O_WRONLY | O_NONBLOCK)
            if fd >= 0 { close(fd) }
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + 3, execute: writer)
        let started = Date()
        XCTAssertThrowsError(try decoder.decodeFile(fifo)) {
            XCTAssertEqual($0 as? ImageError, .unreadable("the image is a named pipe (FIFO), not a regular file; give the path of a regular file"))
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 1, "the FIFO was opened for reading and waited on")
        try FileManager.default.createDirectory(atPath: folder + "/dir.png", withIntermediateDirectories: true)
        XCTAssertThrowsError(try decoder.decodeLabelFile(folder + "/dir.png")) {
            XCTAssertEqual($0 as? ImageError, .unreadable("the image is a folder, not a regular file; give the path of a regular file"))
        }
    }
}

/// What an encoded file is, judged by its first bytes, never by its name: a `.png` that holds an
/// SVG document is an SVG document. Only the four supported formats go to a decoder (each to its
/// own libvips loader); every other kind is named in the error, so the user learns what the file
/// really is instead of "cannot decode".
public enum ImageContent: Equatable, Sendable {
    case supported(ImageFormat)
    /// A recognised format we do not decode, as a noun phrase: "an SVG document".
    case unsupported(String)
    /// Nothing we recognise; the first bytes, for the error message.
    case unknown(String)

    /// Enough bytes for every signature below (and the XML root element search).
    static let sniffLength = 1024

    public static func detect(_ bytes: [UInt8]) -> ImageContent {
        func at(_ offset: Int, _ signature: [UInt8]) -> Bool {
            bytes.count >= offset + signature.count && Array(bytes[offset..<(offset + signature.count)]) == signature
        }
        func at(_ offset: Int, _ text: String) -> Bool { at(offset, Array(text.utf8)) }

        if at(0, [0xFF, 0xD8, 0xFF]) { return .supported(.jpeg) }
        if at(0, [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .supported(.png) }
        if at(0, "RIFF") && at(8, "WEBP") { return .supported(.webp) }
        // Classic TIFF (42) and BigTIFF (43), both byte orders: libtiff reads all four.
        if at(0, [0x49, 0x49, 0x2A, 0x00]) || at(0, [0x4D, 0x4D, 0x00, 0x2A])
            || at(0, [0x49, 0x49, 0x2B, 0x00]) || at(0, [0x4D, 0x4D, 0x00, 0x2B]) { return .supported(.tiff) }

        if at(0, "GIF87a") || at(0, "GIF89a") { return .unsupported("a GIF image") }
        if at(0, "%PDF-") { return .unsupported("a PDF document") }
        if at(0, "%!") || at(0, [0xC5, 0xD0, 0xD3, 0xC6]) { return .unsupported("a PostScript document") }
        if at(0, "MATLAB") { return .unsupported("a MATLAB MAT-file") }
        if at(0, [0x89, 0x48, 0x44, 0x46]) { return .unsupported("an HDF5 file (MATLAB v7.3 or similar)") }
        if at(0, "SIMPLE  =") { return .unsupported("a FITS file") }
        if at(0, "BM") && bytes.count >= 14 { return .unsupported("a BMP image") }
        if bytes.count >= 3, bytes[0] == UInt8(ascii: "P"),
           (UInt8(ascii: "1")...UInt8(ascii: "7")).contains(bytes[1]) || bytes[1] == UInt8(ascii: "F") || bytes[1] == UInt8(ascii: "f"),
           [9, 10, 13, 32].contains(bytes[2]) {
            return .unsupported("a Netpbm image (PBM/PGM/PPM/PAM/PFM)")
        }
        if at(4, "ftyp") {
            let brand = bytes.count >= 12 ? String(decoding: bytes[8..<12], as: UTF8.self) : ""
            if ["heic", "heix", "hevc", "heim", "heis", "mif1", "msf1", "avif", "avis"].contains(brand) {
                return .unsupported("a HEIF/AVIF image")
            }
            if brand == "jp2 " || brand == "jpx " { return .unsupported("a JPEG 2000 image") }
            return .unsupported("an ISO media file (\(brand.isEmpty ? "no brand" : "brand '\(brand)'"))")
        }
        if at(0, [0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20]) || at(0, [0xFF, 0x4F, 0xFF, 0x51]) {
            return .unsupported("a JPEG 2000 image")
        }
        if at(0, [0xFF, 0x0A]) || at(0, [0x00, 0x00, 0x00, 0x0C, 0x4A, 0x58, 0x4C, 0x20]) { return .unsupported("a JPEG XL image") }
        if at(0, [0x76, 0x2F, 0x31, 0x01]) { return .unsupported("an OpenEXR image") }
        if at(0, "#?RADIANCE") || at(0, "#?RGBE") { return .unsupported("a Radiance HDR image") }
        if at(0, [0x08, 0xF2, 0xA6, 0xB6]) || at(0, [0xB6, 0xA6, 0xF2, 0x08]) { return .unsupported("a libvips native image") }
        if at(0, [0x00, 0x00, 0x01, 0x00]) { return .unsupported("an ICO icon") }
        if at(0, "PK") && bytes.count >= 4 && bytes[2] < 9 { return .unsupported("a ZIP archive") }
        if at(0, [0x1F, 0x8B]) { return .unsupported("a gzip file") }
        if at(0, [0x7F, 0x45, 0x4C, 0x46]) { return .unsupported("an executable (ELF)") }
        if let markup = markupKind(bytes) { return .unsupported(markup) }
        let head = bytes.prefix(16)
        if !head.isEmpty, head.allSatisfy({ (32...126).contains($0) || [9, 10, 13].contains($0) }) {
            return .unsupported("a text file")
        }
        return .unknown(head.map { String($0, radix: 16, uppercase: true).leftPadded(2) }.joined(separator: " "))
    }

    /// SVG, HTML or other XML, after an optional UTF-8 byte-order mark and white space.
    private static func markupKind(_ bytes: [UInt8]) -> String? {
        var start = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        while start < bytes.count, [9, 10, 13, 32].contains(bytes[start]) { start += 1 }
        guard start < bytes.count, bytes[start] == UInt8(ascii: "<") else { return nil }
        let head = String(decoding: bytes[start..<min(bytes.count, start + sniffLength)], as: UTF8.self).lowercased()
        if head.contains("<svg") { return "an SVG document" }
        if head.contains("<html") || head.hasPrefix("<!doctype html") { return "an HTML document" }
        return "an XML or other markup document"
    }
}

/// The formats fssam decodes.
public enum ImageFormat: String, Sendable, CaseIterable {
    case jpeg = "JPEG", png = "PNG", webp = "WebP", tiff = "TIFF"

    /// "JPEG, PNG, WebP, TIFF", for error messages.
    static let supportedList = allCases.map(\.rawValue).joined(separator: ", ")
}

private extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}

import UntrustedInput
import CVips
import Foundation

/// Decodes image files with OpenCV's `imread` conventions through libvips:
/// EXIF orientation applied, grayscale replicated to RGB, alpha dropped (not composited),
/// CMYK and 16-bit converted to 8-bit sRGB. Anything over the pixel limit is refused from the
/// header alone, before any pixel is decoded (decompression bombs).
public struct ImageDecoder: Sendable {
    /// Default pixel limit: 100 megapixels, far above any dataset image, far below a bomb.
    public static let defaultMaxPixels = 100_000_000

    public var maxPixels: Int

    public init(maxPixels: Int = ImageDecoder.defaultMaxPixels) { self.maxPixels = maxPixels }

    /// Reads and decodes the file at `path`.
    public func decodeFile(_ path: String) throws -> RGBImage {
        try decode(Self.readFile(path))
    }

    /// Decodes an encoded image (JPEG, PNG, WebP or TIFF, by content) held in memory.
    public func decode(_ data: [UInt8]) throws -> RGBImage {
        try Vips.withWarnings { try decodeColour(data) }
    }

    private func decodeColour(_ data: [UInt8]) throws -> RGBImage {
        let image = try open(data)
        return try withExtendedLifetime(data) {
            // `data` must stay alive while libvips decodes from it: this closure pins it.
            var current = try image.apply("EXIF orientation") { fssam_vips_autorot($0, $1) }
            if current.interpretation != VIPS_INTERPRETATION_sRGB || current.format != VIPS_FORMAT_UCHAR {
                // Handles B_W (replicated), CMYK (through its profile), RGB16/GREY16 (scaled to 8 bits).
                current = try current.apply("conversion to sRGB") { fssam_vips_colourspace($0, $1, VIPS_INTERPRETATION_sRGB) }
            }
            if current.format != VIPS_FORMAT_UCHAR {
                current = try current.apply("conversion to 8 bits") { fssam_vips_cast($0, $1, VIPS_FORMAT_UCHAR) }
            }
            if current.bands > 3 {
                // Alpha (or extra bands) is dropped, as IMREAD_COLOR does; not composited.
                current = try current.apply("dropping alpha") { fssam_vips_extract_band($0, $1, 0, 3) }
            }
            guard current.bands == 3 else { throw ImageError.unsupported("\(current.bands) bands after conversion to sRGB") }
            let pixels = try current.pixels()
            guard pixels.count == current.width * current.height * 3 else {
                throw ImageError.decode("decoded \(pixels.count) bytes for \(current.width)x\(current.height) RGB")
            }
            return RGBImage(width: current.width, height: current.height, pixels: pixels)
        }
    }

    /// Decodes a single-channel mask or label image without any colour conversion: values are
    /// returned as stored (8- or 16-bit), so 0/1, 0/255 and class-index labels all survive.
    /// EXIF orientation is applied, as OpenCV's `IMREAD_GRAYSCALE` does, so mask and image agree.
    public func decodeLabelFile(_ path: String) throws -> LabelImage {
        try decodeLabel(Self.readFile(path))
    }

    public func decodeLabel(_ data: [UInt8]) throws -> LabelImage {
        try Vips.withWarnings { try decodeSingleChannel(data) }
    }

    private func decodeSingleChannel(_ data: [UInt8]) throws -> LabelImage {
        let image = try open(data)
        return try withExtendedLifetime(data) {
            let current = try image.apply("EXIF orientation") { fssam_vips_autorot($0, $1) }
            let bands = current.bands
            let hasAlpha = bands == 2 || bands == 4
            let colourBands = hasAlpha ? bands - 1 : bands
            if colourBands != 1 && colourBands != 3 {
                throw ImageError.unsupported("a mask must be single-channel; this one has \(bands) bands")
            }
            if current.format != VIPS_FORMAT_UCHAR && current.format != VIPS_FORMAT_USHORT {
                throw ImageError.unsupported("a mask must have 8- or 16-bit integer pixels")
            }
            let wide = current.format == VIPS_FORMAT_USHORT
            let raw = try current.pixels()
            let (w, h) = (current.width, current.height)
            let bytesPerSample = wide ? 2 : 1
            var values = [UInt16](repeating: 0, count: w * h)
            try raw.withUnsafeBytes { bytes in
                func sample(_ pixel: Int, _ band: Int) -> UInt16 {
                    let o = (pixel * bands + band) * bytesPerSample
                    return wide ? UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: o, as: UInt16.self)) : UInt16(bytes[o])
                }
                for i in 0..<(w * h) {
                    let value = sample(i, 0)
                    if colourBands == 3 && (sample(i, 1) != value || sample(i, 2) != value) {
                        // A colour (e.g. palette) PNG: its pixel colours are not label values.
                        throw ImageError.unsupported("a mask must be single-channel; pixel (\(i % w), \(i / w)) is coloured")
                    }
                    values[i] = value
                }
            }
            return LabelImage(width: w, height: h, values: values)
        }
    }

    /// Opens the header through the loader of the format the bytes are (never the name, never
    /// libvips's own guess): any other content is refused by name before libvips sees it.
    private func open(_ data: [UInt8]) throws -> VipsImageHandle {
        guard Vips.initialised else { throw ImageError.decode("libvips failed to initialise") }
        guard !data.isEmpty else { throw ImageError.empty }
        let format: ImageFormat
        switch ImageContent.detect(data) {
        case .supported(let detected): format = detected
        case .unsupported(let kind): throw ImageError.notSupported(kind)
        case .unknown(let head): throw ImageError.notSupported("unrecognised content (first bytes \(head))")
        }
        let image = try Vips.load(format, data)
        if image.width * image.height > maxPixels {
            throw ImageError.tooLarge(width: image.width, height: image.height, limit: maxPixels)
        }
        return image
    }

    /// Largest file read for decoding: 1 GiB holds an uncompressed 16-bit RGBA TIFF at the default
    /// pixel limit, and keeps a stray multi-GB file from being read whole into memory.
    public static let maxFileBytes = 1 << 30

    /// The file's bytes; a folder, FIFO or device is refused by kind without reading it.
    static func readFile(_ path: String) throws -> [UInt8] {
        do { return try RegularFile.readAll(path, limit: maxFileBytes, what: "image") } catch let error as FileAccessError {
            throw ImageError.unreadable(error.reason)
        }
    }
}

/// A decoded single-channel label or mask image, values as stored.
public struct LabelImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public let values: [UInt16]
}

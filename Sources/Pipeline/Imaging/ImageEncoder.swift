import CVips

/// Encodes 8-bit pixel buffers as PNG (lossless: masks, overlays) or JPEG (tests and previews)
/// through libvips.
public enum ImageEncoder {
    /// Interleaved 8-bit samples: `bands` per pixel, rows top to bottom.
    public static func png(width: Int, height: Int, bands: Int, pixels: [UInt8], compression: Int = 6) throws -> [UInt8] {
        try encode(width: width, height: height, bands: bands, format: VIPS_FORMAT_UCHAR, bytes: pixels, orientation: nil) {
            fssam_vips_pngsave_buffer($0, $1, $2, Int32(compression))
        }
    }

    /// 16-bit single-band PNG (little-endian host samples), for 16-bit label files.
    public static func png16(width: Int, height: Int, values: [UInt16]) throws -> [UInt8] {
        let bytes = values.withUnsafeBytes { [UInt8]($0) }
        return try encode(width: width, height: height, bands: 1, format: VIPS_FORMAT_USHORT, bytes: bytes, orientation: nil) {
            fssam_vips_pngsave_buffer($0, $1, $2, 6)
        }
    }

    /// JPEG; `orientation` (1–8) is written as the EXIF Orientation tag when given.
    public static func jpeg(width: Int, height: Int, bands: Int, pixels: [UInt8], quality: Int = 95,
                            orientation: Int? = nil) throws -> [UInt8] {
        try encode(width: width, height: height, bands: bands, format: VIPS_FORMAT_UCHAR, bytes: pixels, orientation: orientation) {
            fssam_vips_jpegsave_buffer($0, $1, $2, Int32(quality))
        }
    }

    private static func encode(width: Int, height: Int, bands: Int, format: VipsBandFormat, bytes: [UInt8], orientation: Int?,
                               save: (UnsafeMutablePointer<VipsImage>, UnsafeMutablePointer<UnsafeMutableRawPointer?>,
                                      UnsafeMutablePointer<Int>) -> Int32) throws -> [UInt8] {
        guard Vips.initialised else { throw ImageError.decode("libvips failed to initialise") }
        let sampleBytes = format == VIPS_FORMAT_USHORT ? 2 : 1
        precondition(bytes.count == width * height * bands * sampleBytes, "pixel buffer does not match \(width)x\(height)x\(bands)")
        let created = bytes.withUnsafeBytes {
            fssam_vips_new_from_memory_copy($0.baseAddress, $0.count, Int32(width), Int32(height), Int32(bands), format)
        }
        guard let created else { throw ImageError.decode("cannot wrap pixels: \(Vips.takeError())") }
        var image = VipsImageHandle(created)
        if format == VIPS_FORMAT_USHORT {
            // Without the GREY16/RGB16 label libvips treats the samples as 8-bit data and clips them.
            let interpretation = bands >= 3 ? VIPS_INTERPRETATION_RGB16 : VIPS_INTERPRETATION_GREY16
            image = try image.apply("labelling 16-bit") { fssam_vips_copy_interpretation($0, $1, interpretation) }
        }
        if let orientation {
            // Metadata is set on a private copy: the wrapped image may be shared by libvips's cache.
            image = try image.apply("copy") { fssam_vips_copy($0, $1) }
            vips_image_set_int(image.pointer, "orientation", Int32(orientation))
        }
        var buffer: UnsafeMutableRawPointer?
        var length = 0
        guard save(image.pointer, &buffer, &length) == 0, let buffer else {
            throw ImageError.decode("cannot encode: \(Vips.takeError())")
        }
        defer { fssam_g_free(buffer) }
        return [UInt8](UnsafeRawBufferPointer(start: buffer, count: length))
    }
}

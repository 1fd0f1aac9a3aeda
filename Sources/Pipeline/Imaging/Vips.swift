import CVips
import Foundation

/// libvips set-up and the C boundary: one initialisation per process, errors as values, and
/// image handles that are released on every path.
enum Vips {
    /// Initialises libvips once. vips's own thread pool is limited to one thread so that it does
    /// not compete with the model's threads for the cores.
    static let initialised: Bool = {
        guard fssam_vips_init("fssam") == 0 else { return false }
        fssam_vips_concurrency_set(1)
        return true
    }()

    /// The library's version (`8.14.1`): part of the decode memo's key.
    static var versionString: String { String(cString: vips_version_string()) }

    /// The text of libvips's last error (which it keeps per process), cleared after reading.
    static func takeError() -> String {
        let text = vips_error_buffer().map { String(cString: $0) } ?? ""
        vips_error_clear()
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.isEmpty ? "libvips reported no detail" : trimmed.replacingOccurrences(of: "\n", with: "; ")
    }
}

/// An owned `VipsImage*`, unreferenced when dropped.
final class VipsImageHandle {
    let pointer: UnsafeMutablePointer<VipsImage>

    init(_ pointer: UnsafeMutablePointer<VipsImage>) { self.pointer = pointer }

    deinit { fssam_g_object_unref(pointer) }

    var width: Int { Int(vips_image_get_width(pointer)) }
    var height: Int { Int(vips_image_get_height(pointer)) }
    var bands: Int { Int(vips_image_get_bands(pointer)) }
    var format: VipsBandFormat { vips_image_get_format(pointer) }
    var interpretation: VipsInterpretation { vips_image_get_interpretation(pointer) }

    /// Runs a libvips operation that writes a new image into its out-parameter.
    func apply(_ what: String, _ operation: (UnsafeMutablePointer<VipsImage>, UnsafeMutablePointer<UnsafeMutablePointer<VipsImage>?>) -> Int32) throws -> VipsImageHandle {
        var out: UnsafeMutablePointer<VipsImage>?
        guard operation(pointer, &out) == 0, let out else { throw ImageError.decode("\(what) failed: \(Vips.takeError())") }
        return VipsImageHandle(out)
    }

    /// Decodes all pixels into a packed buffer (row-major, bands interleaved).
    func pixels() throws -> [UInt8] {
        var size = 0
        guard let memory = vips_image_write_to_memory(pointer, &size) else {
            throw ImageError.decode("cannot decode pixels: \(Vips.takeError())")
        }
        defer { fssam_g_free(memory) }
        return [UInt8](UnsafeRawBufferPointer(start: memory, count: size))
    }
}

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
        fssam_vips_restrict_loaders()
        VipsWarnings.capture()
        return true
    }()

    /// The library's version (`8.14.1`): part of the decode memo's key.
    static var versionString: String { String(cString: vips_version_string()) }

    /// Header-only open by the one loader of `format` (the others stay blocked).
    static func load(_ format: ImageFormat, _ data: [UInt8]) throws -> VipsImageHandle {
        let pointer = data.withUnsafeBytes { bytes -> UnsafeMutablePointer<VipsImage>? in
            switch format {
            case .jpeg: fssam_vips_jpegload_buffer(bytes.baseAddress, bytes.count)
            case .png: fssam_vips_pngload_buffer(bytes.baseAddress, bytes.count)
            case .webp: fssam_vips_webpload_buffer(bytes.baseAddress, bytes.count)
            case .tiff: fssam_vips_tiffload_buffer(bytes.baseAddress, bytes.count)
            }
        }
        guard let pointer else { throw ImageError.decode("\(format.rawValue) header: \(takeError())") }
        return VipsImageHandle(pointer)
    }

    /// Runs a decode with this thread's libvips warnings captured (they never reach the
    /// terminal): when the decode fails, the last warning is added to its error, as it is often
    /// the only line that says what was wrong with the file.
    static func withWarnings<T>(_ body: () throws -> T) throws -> T {
        _ = takeWarning()
        do { return try body() } catch ImageError.decode(let why) {
            guard let warning = takeWarning() else { throw ImageError.decode(why) }
            throw ImageError.decode("\(why) (libvips warning: \(warning))")
        }
    }

    static func takeWarning() -> String? { VipsWarnings.take() }

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

/// libvips reports recoverable oddities of a file (a corrupt JPEG marker, a bad TIFF tag) with
/// g_warning in the "VIPS" log domain, which GLib prints to stderr: under a run's progress display
/// that is noise with no item attached. They are kept per thread instead (the latest one), so the
/// decoder can attach a warning to the error of the item it was decoding; the rest are dropped.
enum VipsWarnings {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var latest: [pthread_t: String] = [:]

    static func capture() {
        let levels = GLogLevelFlags(rawValue: G_LOG_LEVEL_WARNING.rawValue | G_LOG_LEVEL_MESSAGE.rawValue
                                    | G_LOG_LEVEL_INFO.rawValue | G_LOG_LEVEL_DEBUG.rawValue)
        _ = g_log_set_handler("VIPS", levels, { _, _, message, _ in
            VipsWarnings.keep(message.map { String(cString: $0) } ?? "")
        }, nil)
    }

    static func keep(_ message: String) {
        lock.lock()
        defer { lock.unlock() }
        latest[pthread_self()] = message
    }

    /// This thread's latest warning, cleared by reading.
    static func take() -> String? {
        lock.lock()
        defer { lock.unlock() }
        let text = latest.removeValue(forKey: pthread_self())?.trimmingCharacters(in: .whitespacesAndNewlines)
        return text?.isEmpty == false ? text : nil
    }
}

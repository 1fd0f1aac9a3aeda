import Foundation
import Models
import Tensor
import UntrustedInput

/// One few-shot episode from files: k support examples (image + mask) and a query image, in
/// the conventions of DESIGN.md (the i-th support is model support i; masks are nonzero =
/// target, an optional ignore value; the output mask is at the query's original size).
public struct Episode: Sendable {
    public struct SupportFiles: Sendable {
        public var image: String
        public var mask: String

        public init(image: String, mask: String) {
            self.image = image
            self.mask = mask
        }
    }

    /// The decoded, validated inputs at the network size.
    public var query: Tensor
    public var queryWidth: Int
    public var queryHeight: Int
    public var supports: [FSSAM.SupportInput]

    /// Decodes and validates every input before any model work, so a bad support stops the
    /// episode at once with a message naming the file.
    public static func load(query queryPath: String, supports files: [SupportFiles], ignoreValue: UInt16?,
                            decoder: ImageDecoder = ImageDecoder()) throws -> Episode {
        guard !files.isEmpty else { throw PipelineError("--support", "at least one support example (IMAGE MASK) is needed") }
        var supports: [FSSAM.SupportInput] = []
        for (i, file) in files.enumerated() {
            let image: RGBImage
            let mask: LabelImage
            do { image = try decoder.decode(try imageBytes(file.image, what: "support image")) } catch {
                throw PipelineError(file.image, "support \(i + 1) image: \(reason(error))")
            }
            do { mask = try decoder.decodeLabel(try imageBytes(file.mask, what: "support mask")) } catch {
                throw PipelineError(file.mask, "support \(i + 1) mask: \(reason(error))")
            }
            let label: [UInt8]
            do {
                label = try ModelInput.supportLabel(mask, imageWidth: image.width, imageHeight: image.height,
                                                    ignoreValue: ignoreValue)
            } catch {
                throw PipelineError(file.mask, "support \(i + 1) mask: \(error)")
            }
            supports.append(FSSAM.SupportInput(image: ModelInput.image(image), label: label))
        }
        let query: RGBImage
        do { query = try decoder.decode(try imageBytes(queryPath, what: "query image")) } catch {
            throw PipelineError(queryPath, "query image: \(reason(error))")
        }
        return Episode(query: ModelInput.image(query), queryWidth: query.width, queryHeight: query.height, supports: supports)
    }

    /// An image file's bytes, read only once it is known to be a regular file (a FIFO named as a
    /// support would otherwise block the read forever).
    private static func imageBytes(_ path: String, what: String) throws -> [UInt8] {
        try RegularFile.readAll(path, limit: InputLimits.maxImageFileBytes, what: what)
    }

    /// The reason alone: the error subject already names the file.
    private static func reason(_ error: Error) -> String {
        (error as? FileAccessError)?.reason ?? "\(error)"
    }

    public struct Result: Sendable {
        /// 1 = target, 0 = background, `queryHeight × queryWidth`, row-major.
        public var mask: [UInt8]
        public var output: FSSAM.Output
    }

    /// Runs the model and post-processes to the query's original size.
    public func run(_ model: FSSAM, options: FSSAM.Options, clock: StageClock = StageClock(),
                    trace: FSSAM.Trace? = nil) throws -> Result {
        let prepared = try model.prepare(supports: supports, clock: clock, trace: trace)
        let output = try model(query: query, supports: prepared, options: options, clock: clock, trace: trace)
        let mask = clock.measure("export") {
            MaskPostprocessing.binaryMask(logits: output.logits, height: queryHeight, width: queryWidth)
        }
        return Result(mask: mask, output: output)
    }

    /// The mask as a 0/255 single-channel PNG.
    public func png(_ result: Result) throws -> [UInt8] {
        try ImageEncoder.png(width: queryWidth, height: queryHeight, bands: 1, pixels: result.mask.map { $0 == 0 ? 0 : 255 })
    }
}

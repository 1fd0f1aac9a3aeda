import ArgumentParser
import Pipeline
import Tensor

/// The support set and input limits, shared by every command that segments images.
struct SupportOptions: ParsableArguments {
    @Option(name: .customLong("support"), parsing: .upToNextOption,
            help: ArgumentHelp("A support example: its image and its mask (repeat for k shots).", valueName: "image mask"))
    var supportPaths: [String] = []

    @Option(help: ArgumentHelp("A YAML/JSON file listing the support examples (instead of --support).", valueName: "file"))
    var supportSet: String?

    @Option(help: ArgumentHelp("Mask pixels equal to this value are ignore (e.g. 255 in VOC labels).", valueName: "value"))
    var ignoreValue: UInt16?

    @Option(help: "Refuse images with more pixels than this (decompression bombs), \(OptionRange.text(OptionRange.maxPixels)).")
    var maxPixels: Int = ImageDecoder.defaultMaxPixels

    @Option(help: "Compute threads, \(OptionRange.text(OptionRange.threads)) (default: all cores).")
    var threads: Int?

    func validate() throws {
        if supportSet != nil {
            guard supportPaths.isEmpty else { throw ValidationError("give the supports with --support or --support-set, not both") }
            return try validateLimits()
        }
        guard !supportPaths.isEmpty, supportPaths.count % 2 == 0 else {
            throw ValidationError("--support takes two paths, an image and its mask (got \(supportPaths.count) value(s))")
        }
        try validateLimits()
    }

    private func validateLimits() throws {
        if let threads { try OptionRange.check(threads, OptionRange.threads, option: "threads") }
        try OptionRange.check(maxPixels, OptionRange.maxPixels, option: "max-pixels")
    }

    /// The support examples in model order (the i-th --support is model support i), and the
    /// ignore value (`--ignore-value` wins over the support-set file's).
    func resolved() throws -> (files: [Episode.SupportFiles], ignoreValue: UInt16?) {
        if let supportSet {
            let file = try SupportSetFile.load(path: supportSet)
            return (file.supports, ignoreValue ?? file.ignoreValue)
        }
        let files = stride(from: 0, to: supportPaths.count, by: 2).map {
            Episode.SupportFiles(image: supportPaths[$0], mask: supportPaths[$0 + 1])
        }
        return (files, ignoreValue)
    }

    var decoder: ImageDecoder { ImageDecoder(maxPixels: maxPixels) }

    /// Applies --threads to the compute kernels.
    func applyThreads() {
        if let threads { ComputeThreads.count = threads }
    }
}

import Foundation
import Yams

/// `--support-set FILE`: a support set kept beside the data instead of on the command line.
///
/// ```yaml
/// supports:                 # model order: the first is support 1
///   - {image: cat1.jpg, mask: cat1.png}
///   - {image: cat2.jpg, mask: cat2.png}
/// ignore_value: 255         # optional: mask pixels with this value are ignore
/// ```
/// JSON is YAML, so the same object as JSON works too. Relative paths are resolved against the
/// file's folder, so a support set travels with its images.
public struct SupportSetFile: Sendable {
    public var supports: [Episode.SupportFiles]
    public var ignoreValue: UInt16?

    public static func load(path: String) throws -> SupportSetFile {
        // Regular file, size, nesting, node count and repeated keys are checked there (YAMLDocumentError).
        let node = try YAMLDocument.load(path: path, what: "support-set file")
        guard let root = node.mapping else { throw PipelineError(path, "expected a mapping with a `supports` list") }
        for key in root.keys.compactMap(\.string) where !["supports", "ignore_value"].contains(key) {
            throw PipelineError(path, "unknown field `\(key)` (known: supports, ignore_value)")
        }
        guard let list = root["supports"]?.sequence, !list.isEmpty else {
            throw PipelineError(path, "`supports` must be a non-empty list of {image, mask}")
        }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        func resolve(_ p: String) -> String { p.hasPrefix("/") || folder.isEmpty ? p : folder + "/" + p }
        var supports: [Episode.SupportFiles] = []
        for (i, entry) in list.enumerated() {
            let line = entry.mark.map { ":\($0.line)" } ?? ""
            guard let map = entry.mapping, let image = map["image"]?.string, let mask = map["mask"]?.string,
                  !image.isEmpty, !mask.isEmpty else {
                throw PipelineError(path + line, "support \(i + 1) needs `image` and `mask` paths")
            }
            supports.append(Episode.SupportFiles(image: resolve(image), mask: resolve(mask)))
        }
        var ignoreValue: UInt16?
        if let node = root["ignore_value"] {
            guard let text = node.string, let value = UInt16(text) else {
                throw PipelineError(path + (node.mark.map { ":\($0.line)" } ?? ""), "`ignore_value` must be an integer 0…65535")
            }
            ignoreValue = value
        }
        return SupportSetFile(supports: supports, ignoreValue: ignoreValue)
    }
}

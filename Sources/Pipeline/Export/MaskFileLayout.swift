import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where an item's files go under `--out`: the input tree mirrored under `masks/` (and
/// `overlays/`, `probabilities/`), the item id with `.png` appended (`photos/cat.jpg` →
/// `masks/photos/cat.jpg.png`). Appending, not replacing the extension, keeps the mapping
/// one-to-one: `a.jpg` and `a.png` in one folder are two items and get two masks, never one file
/// that the last writer wins. Item ids come from file names and manifests, which are untrusted;
/// an id must never make us write outside the output folder.
public struct MaskFileLayout: Sendable {
    public let outputDirectory: String

    public init(outputDirectory: String) {
        self.outputDirectory = outputDirectory
    }

    /// `<out>/masks/<id>.png`.
    public func maskPath(forItem id: String) throws -> String {
        try path(forItem: id, under: "masks")
    }

    /// `<out>/overlays/<id>.png`.
    public func overlayPath(forItem id: String) throws -> String {
        try path(forItem: id, under: "overlays")
    }

    /// The relative part, checked: no absolute path, no `..` or `.` or empty component, no NUL,
    /// and no component that is already a symbolic link on disk (which could point anywhere).
    public func path(forItem id: String, under folder: String) throws -> String {
        try checkedPath(try Self.relativePath(forItem: id), under: folder, naming: id)
    }

    /// `<out>/<folder>/<relative>` for a file already named by this layout (a shard part's mask
    /// placed into the merged folder), with the same checks.
    public func path(ofFile relative: String, under folder: String) throws -> String {
        _ = try Self.safeComponents(of: relative)
        return try checkedPath(relative, under: folder, naming: relative)
    }

    /// Errors name `id` (the item id, or the file).
    private func checkedPath(_ relative: String, under folder: String, naming id: String) throws -> String {
        let relative = [folder] + relative.split(separator: "/").map(String.init)
        // Checked at the moment of asking, just before the write; a symlink planted between the
        // check and the write by someone with access to --out is outside what we defend against.
        var current = outputDirectory
        for component in relative {
            current += "/" + component
            var info = stat()
            if lstat(current, &info) == 0 && (info.st_mode & S_IFMT) == S_IFLNK {
                throw PipelineError(id, "output path \(current) is a symbolic link; refusing to write through it")
            }
        }
        return current
    }

    /// The bytes of the regular file at `relative` under the output folder; nil when there is none
    /// (or something else is there: a folder, a symbolic link).
    public func existingFile(_ relative: String) -> [UInt8]? {
        let full = outputDirectory + "/" + relative
        var info = stat()
        guard lstat(full, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG,
              let data = FileManager.default.contents(atPath: full) else { return nil }
        return [UInt8](data)
    }

    /// The file name an item's outputs get under each folder: its id, checked, with `.png` appended.
    public static func relativePath(forItem id: String) throws -> String {
        _ = try safeComponents(of: id)
        return id + ".png"
    }

    static func safeComponents(of id: String) throws -> [String] {
        if id.isEmpty { throw PipelineError("item id", "empty id has no output path") }
        if id.hasPrefix("/") { throw PipelineError(id, "absolute item id would write outside the output folder") }
        if id.utf8.contains(0) { throw PipelineError(id, "item id contains a NUL byte") }
        let components = id.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        for component in components {
            switch component {
            case "..": throw PipelineError(id, "item id contains '..', which would write outside the output folder")
            case ".": throw PipelineError(id, "item id contains a '.' component; ids must be plain relative paths")
            case "": throw PipelineError(id, "item id contains an empty path component ('//' or a trailing '/')")
            default: break
            }
        }
        return components
    }
}

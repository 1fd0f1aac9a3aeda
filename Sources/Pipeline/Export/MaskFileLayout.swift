import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where an item's files go under `--out`: the input tree mirrored under `masks/` (and
/// `overlays/`), with the extension replaced by `.png`. Item ids come from file names and
/// manifests, which are untrusted; an id must never make us write outside the output folder.
public struct MaskFileLayout: Sendable {
    public let outputDirectory: String

    public init(outputDirectory: String) {
        self.outputDirectory = outputDirectory
    }

    /// `<out>/masks/<id with .png>`.
    public func maskPath(forItem id: String) throws -> String {
        try path(forItem: id, under: "masks")
    }

    /// `<out>/overlays/<id with .png>`.
    public func overlayPath(forItem id: String) throws -> String {
        try path(forItem: id, under: "overlays")
    }

    /// The relative part, checked: no absolute path, no `..` or `.` or empty component, no NUL,
    /// and no component that is already a symbolic link on disk (which could point anywhere).
    public func path(forItem id: String, under folder: String) throws -> String {
        let components = try Self.safeComponents(of: id)
        var name = components.last!
        if let dot = name.lastIndex(of: "."), dot != name.startIndex { name = String(name[..<dot]) }
        let relative = [folder] + components.dropLast() + [name + ".png"]
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

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where a command writes, checked in plain words. Foundation's own message for a folder that
/// cannot be created ("The file couldn't be saved … NSCocoaErrorDomain error 512") names neither
/// the path in the way nor what to do. `subject` names where the path came from in errors
/// (`--out x`, `--save-predictions y`, or the file being written).
public enum OutputLocation {
    /// Makes sure `path` is a folder, creating it and any missing parents.
    public static func prepareDirectory(_ path: String, for subject: String) throws {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += (prefix.isEmpty || prefix.hasSuffix("/") ? "" : "/") + component
            var info = stat()
            if stat(prefix, &info) == 0 {
                if info.st_mode & S_IFMT == S_IFDIR { continue }
                throw PipelineError(subject, prefix == path
                    ? "\(path) is a file, not a folder; give a folder (it is created if missing)"
                    : "\(prefix) is a file, so the folder \(path) cannot be created in it")
            }
            guard mkdir(prefix, 0o777) == 0 || errno == EEXIST else {
                throw PipelineError(subject, "cannot create the folder \(prefix): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Makes sure a file can be written at `path`: it is not a folder, and its folder exists (it is
    /// created if missing).
    public static func prepareFile(_ path: String, for subject: String) throws {
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR {
            throw PipelineError(subject, "\(path) is a folder; give the path of the file to write")
        }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        if !folder.isEmpty { try prepareDirectory(folder, for: subject) }
    }
}

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Folders fssam writes into, made with messages a person can act on (Foundation's own say
/// "The file “x” couldn’t be saved in the folder “y”." and hide the cause).
public enum Folder {
    /// `mkdir -p`: every missing component is created; an existing folder is fine.
    public static func create(_ path: String) throws {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            var info = stat()
            if stat(prefix, &info) == 0 {
                guard (info.st_mode & S_IFMT) == S_IFDIR else {
                    throw PipelineError(path, "\(prefix) is a file, not a folder")
                }
                continue
            }
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                let reason = errno == EACCES || errno == EROFS ? "no permission to create it here (\(String(cString: strerror(errno))))"
                    : errno == ENOSPC ? "no space left on the device" : String(cString: strerror(errno))
                throw PipelineError(path, "cannot create the folder \(prefix): \(reason)")
            }
        }
    }
}

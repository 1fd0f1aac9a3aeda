import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes files so that a reader (or a crash) never sees a half-written one: the bytes go to a
/// temporary file in the same directory, are flushed to disk, and the file is renamed into place.
public enum AtomicFile {
    public static func write(_ bytes: [UInt8], to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        try OutputLocation.prepareDirectory(directory, for: path)
        let temporary = directory + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw PipelineError(path, "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        var failure: String?
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = "write failed: \(String(cString: strerror(errno)))"
                    return
                }
                offset += n
            }
            if fsync(fd) != 0 { failure = "fsync failed: \(String(cString: strerror(errno)))" }
        }
        close(fd)
        if let failure {
            unlink(temporary)
            throw PipelineError(path, failure)
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw PipelineError(path, "cannot move into place: \(reason)")
        }
    }
}

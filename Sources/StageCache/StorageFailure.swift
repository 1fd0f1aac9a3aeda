import CLMDB
import Foundation

/// Turns an LMDB return code from opening or committing into the error a user can act on.
///
/// LMDB passes the system's errno through: EACCES / EROFS when the folder or its files cannot be
/// written, ENOSPC / EDQUOT when the disk is full. But a short write(2) — what a full disk usually
/// gives — comes back as EIO, so an EIO is reported as a full disk when the file system has less
/// room left than the transaction was writing (statvfs), and as an I/O error otherwise.
enum StorageFailure {
    static func translate(_ code: Int32, operation: String, path: String, bytesWritten: Int = 0) -> Error {
        let reason = "\(operation) failed: \(String(cString: mdb_strerror(code)))"
        switch code {
        case EACCES, EPERM, EROFS:
            return CacheError.readOnly(path: path, reason: reason)
        case ENOSPC, EDQUOT:
            return CacheError.noSpace(path: path, availableBytes: availableBytes(near: path), reason: reason)
        case EIO:
            let available = availableBytes(near: path)
            // A page or two of slack: LMDB writes whole pages and the meta page after the data.
            if available < bytesWritten + (1 << 20) {
                return CacheError.noSpace(path: path, availableBytes: available, reason: reason)
            }
            return LMDBError(code: code, operation: "\(operation) in \(path) (\(available) bytes free; a disk or file-system error)")
        case MDB_INVALID, MDB_VERSION_MISMATCH:
            return CacheError.invalidLMDBFile(path: path + "/data.mdb", reason: String(cString: mdb_strerror(code)))
        case MDB_CORRUPTED, MDB_PAGE_NOTFOUND:
            return CacheError.corruptLMDBPage(path: path + "/data.mdb", reason: reason)
        default:
            return LMDBError(code: code, operation: "\(operation) in \(path)")
        }
    }

    /// Bytes an unprivileged writer can still use on the file system holding `path` (or its
    /// nearest existing parent); Int.max when that cannot be told.
    static func availableBytes(near path: String) -> Int {
        var current = path
        while true {
            var info = statvfs()
            if statvfs(current, &info) == 0 { return Int(info.f_bavail) * Int(info.f_frsize) }
            let parent = URL(fileURLWithPath: current).deletingLastPathComponent().path
            if parent == current || parent.isEmpty { return Int.max }
            current = parent
        }
    }
}

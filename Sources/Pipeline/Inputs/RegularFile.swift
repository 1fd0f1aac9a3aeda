import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Opening a path that must be a regular file (an image, a manifest, a list file). A FIFO, socket,
/// device or folder is refused by its kind before a single byte is read: reading a FIFO would
/// block the run forever, a device could be endless. The open is non-blocking and the kind is
/// checked on the opened descriptor (fstat), so a file swapped between a check and the open
/// cannot slip through.
///
/// A minimal local helper: the parsers branch brings a shared "open a regular file" helper; the
/// two are to be unified at merge.
public enum RegularFile {
    /// Why a path could not be opened as a regular file, in words for an error line.
    public struct Failure: Error, Equatable, Sendable, CustomStringConvertible {
        public let reason: String
        public var description: String { reason }
    }

    /// An open descriptor of a regular file, after the checks; the caller closes it.
    public static func open(_ path: String) throws(Failure) -> Int32 {
        let fd = Glibc.open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(reason: openErrorReason(errno)) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw Failure(reason: "cannot inspect: \(reason)")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw Failure(reason: "\(kind(info.st_mode)), not a regular file")
        }
        // Regular files ignore O_NONBLOCK; cleared anyway so later reads behave as plain reads.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return fd
    }

    /// The whole file, refused when it is larger than `limit` bytes (checked before reading, and
    /// again while reading, in case it grows).
    public static func read(_ path: String, limit: Int) throws(Failure) -> [UInt8] {
        let fd = try open(path)
        defer { close(fd) }
        var info = stat()
        _ = fstat(fd, &info)
        guard Int(info.st_size) <= limit else {
            throw Failure(reason: "is \(info.st_size) bytes, over the limit of \(limit) bytes")
        }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size) + 1)
        var count = 0
        while true {
            if count == bytes.count {
                guard bytes.count <= limit else { throw Failure(reason: "grew past the limit of \(limit) bytes while being read") }
                bytes += [UInt8](repeating: 0, count: min(bytes.count, limit + 1 - bytes.count) + 1)
            }
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + count, $0.count - count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(reason: "read error: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            count += n
        }
        guard count <= limit else { throw Failure(reason: "grew past the limit of \(limit) bytes while being read") }
        bytes.removeSubrange(count...)
        return bytes
    }

    /// Checks the kind without keeping the file open (for paths a library opens itself).
    public static func check(_ path: String) throws(Failure) {
        close(try open(path))
    }

    static func openErrorReason(_ code: Int32) -> String {
        switch code {
        case ENOENT: "no such file"
        case ELOOP: "symbolic link loop"
        case EACCES: "permission denied"
        case EISDIR: "is a directory"
        case ENOTDIR: "a component of the path is not a folder"
        default: "cannot open: \(String(cString: strerror(code)))"
        }
    }

    /// "is a FIFO", "is a directory", … for `st_mode`.
    public static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: "is a directory"
        case S_IFIFO: "is a FIFO"
        case S_IFSOCK: "is a socket"
        case S_IFCHR: "is a character device"
        case S_IFBLK: "is a block device"
        case S_IFLNK: "is a symbolic link"
        default: "is not a regular file"
        }
    }
}

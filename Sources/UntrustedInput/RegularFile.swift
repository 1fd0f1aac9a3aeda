#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file named by the user or by another input file, opened for reading only once it is known
/// to be a regular file.
///
/// Opening first and checking afterwards is what made `fssam weights inspect fifo.pt` hang: a
/// plain `open(O_RDONLY)` of a named pipe blocks until a writer appears, and reading a character
/// device such as `/dev/zero` never ends. So the path is `stat`ed first, then opened with
/// `O_NONBLOCK` (which returns at once even for a FIFO, and changes nothing for a regular file),
/// and the opened descriptor is `fstat`ed again, because the path may have been replaced between
/// the two calls. Every reader of an input file goes through here.
public final class RegularFile {
    public let path: String
    /// The open descriptor; valid until this object is released. Read-only.
    public let descriptor: Int32
    /// The size `fstat` reported when the file was opened.
    public let size: Int

    /// `what` names the kind of file in errors ("checkpoint", "support-set file").
    public init(path: String, what: String = "file") throws {
        self.path = path
        var before = stat()
        guard stat(path, &before) == 0 else { throw FileAccessError(.unreadable, path, Self.cannot("open", what, errno)) }
        if let kind = Self.irregularKind(before.st_mode) { throw FileAccessError(.notRegularFile, path, Self.notRegular(what, kind)) }

        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw FileAccessError(.unreadable, path, Self.cannot("open", what, errno)) }
        var after = stat()
        guard fstat(fd, &after) == 0 else {
            let code = errno
            close(fd)
            throw FileAccessError(.unreadable, path, Self.cannot("stat", what, code))
        }
        if let kind = Self.irregularKind(after.st_mode) {
            close(fd)
            throw FileAccessError(.notRegularFile, path, Self.notRegular(what, kind))
        }
        descriptor = fd
        size = Int(after.st_size)
    }

    deinit { close(descriptor) }

    /// The whole file, refused when it holds more than `limit` bytes (checked on what is actually
    /// read too, since the file may grow after it was opened). `what` names the kind of file in the
    /// error, e.g. "support-set file".
    public func readAll(limit: Int, what: String) throws -> [UInt8] {
        if size > limit { throw FileAccessError(.tooLarge, path, Self.tooLarge(what, limit)) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(size + 1)
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        // One byte past the limit is enough to know the file is too large.
        while bytes.count <= limit {
            let wanted = min(chunk.count, limit + 1 - bytes.count)
            let n = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, wanted) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileAccessError(.unreadable, path, Self.cannot("read", what, errno))
            }
            if n == 0 { break }
            bytes += chunk[0..<n]
        }
        if bytes.count > limit { throw FileAccessError(.tooLarge, path, Self.tooLarge(what, limit)) }
        return bytes
    }

    /// Opens `path` and reads it whole (at most `limit` bytes).
    public static func readAll(_ path: String, limit: Int, what: String) throws -> [UInt8] {
        try RegularFile(path: path, what: what).readAll(limit: limit, what: what)
    }

    /// Nil for a regular file; otherwise what it is, in words ("a named pipe (FIFO)").
    public static func irregularKind(_ mode: mode_t) -> String? {
        switch mode & S_IFMT {
        case S_IFREG: return nil
        case S_IFDIR: return "a folder"
        case S_IFIFO: return "a named pipe (FIFO)"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFSOCK: return "a socket"
        default: return "not a plain file"
        }
    }

    private static func notRegular(_ what: String, _ kind: String) -> String {
        "the \(what) is \(kind), not a regular file; give the path of a regular file"
    }

    private static func cannot(_ action: String, _ what: String, _ code: Int32) -> String {
        code == ENOENT ? "no such file" : "cannot \(action) the \(what): \(String(cString: strerror(code)))"
    }

    private static func tooLarge(_ what: String, _ limit: Int) -> String {
        "the \(what) is larger than \(limit) bytes, the most accepted (a real one is far smaller)"
    }
}

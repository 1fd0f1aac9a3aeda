#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory map of a whole file. Checkpoints are hundreds of MB: mapping lets the
/// loader copy only the tensors it is asked for, and the OS share pages between processes.
public final class MappedFile: @unchecked Sendable {
    // Immutable after init; the mapping is read-only, so sharing across threads is safe.
    public let path: String
    public let count: Int
    private let base: UnsafeRawPointer?

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CheckpointError(path, "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw CheckpointError(path, "cannot stat: \(String(cString: strerror(errno)))") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw CheckpointError(path, "not a regular file") }
        count = Int(info.st_size)
        if count == 0 {
            base = nil
            return
        }
        let mapped = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let mapped, mapped != MAP_FAILED else {
            throw CheckpointError(path, "cannot map \(count) bytes: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(mapped)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), count) }
    }

    /// Runs `body` over bytes `range` of the file. The pointer must not escape `body`.
    public func withBytes<R>(_ range: Range<Int>, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard range.lowerBound >= 0, range.upperBound <= count else {
            throw CheckpointError(path, "byte range \(range) is outside the file (\(count) bytes)")
        }
        guard let base else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return try body(UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count))
    }
}

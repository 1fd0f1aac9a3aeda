import UntrustedInput
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

    /// Opened through `RegularFile`: a FIFO or device named as a checkpoint is refused instead of
    /// blocking the open or mapping nothing.
    public init(path: String) throws {
        self.path = path
        let file: RegularFile
        do { file = try RegularFile(path: path, what: "checkpoint") } catch let error as FileAccessError {
            throw CheckpointError(path, error.reason)
        }
        let count = file.size
        self.count = count
        if count == 0 {
            base = nil
            return
        }
        // The descriptor must stay open for the call (Swift may release `file` after its last use);
        // the mapping outlives it, as mmap allows.
        let mapped = withExtendedLifetime(file) { mmap(nil, count, PROT_READ, MAP_PRIVATE, file.descriptor, 0) }
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

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `AtomicFile` for files too large to build in memory (a results file of 10^7 lines, a merge of
/// shards): bytes are
/// appended through a buffer to a temporary file beside the target, and `commit` flushes, fsyncs
/// and renames it into place. Dropped without `commit`, the temporary file is removed and the
/// target is untouched, so a reader never sees a half-written file.
public final class AtomicFileWriter {
    public let path: String
    private let temporary: String
    private var fd: Int32
    private var buffer: [UInt8] = []
    private static let bufferLimit = 1 << 20

    public init(path: String) throws {
        self.path = path
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        try OutputLocation.prepareDirectory(directory, for: path)
        temporary = TemporaryFile.path(in: directory, for: url.lastPathComponent)
        fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw PipelineError(path, "cannot write in \(directory): \(String(cString: strerror(errno)))") }
        buffer.reserveCapacity(Self.bufferLimit)
    }

    deinit {
        if fd >= 0 {
            close(fd)
            unlink(temporary)
        }
    }

    public func write(_ bytes: some Sequence<UInt8>) throws {
        buffer.append(contentsOf: bytes)
        if buffer.count >= Self.bufferLimit { try drain() }
    }

    /// Large buffers go straight to the file, without a copy into the buffer.
    public func write(_ bytes: [UInt8]) throws {
        if buffer.isEmpty && bytes.count >= Self.bufferLimit { try drain(bytes) } else {
            buffer.append(contentsOf: bytes)
            if buffer.count >= Self.bufferLimit { try drain() }
        }
    }

    public func write(_ text: String) throws { try write(Array(text.utf8)) }

    private func drain() throws {
        try drain(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    private func drain(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw PipelineError(path, "write failed: \(String(cString: strerror(errno)))")
                }
                offset += n
            }
        }
    }

    /// Flushes, fsyncs and renames into place. The writer is finished afterwards.
    public func commit() throws {
        try drain()
        guard fsync(fd) == 0 else { throw PipelineError(path, "fsync failed: \(String(cString: strerror(errno)))") }
        close(fd)
        fd = -1
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw PipelineError(path, "cannot move into place: \(reason)")
        }
    }
}

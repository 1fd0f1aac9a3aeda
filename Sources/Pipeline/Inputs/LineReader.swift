import UntrustedInput
#if canImport(Glibc)
import Glibc
#endif

/// Reads a file one line at a time through a fixed buffer, so a manifest of 10^7 lines never sits
/// in memory, and a line longer than `maxLineBytes` (a binary file, a runaway quote) is reported
/// instead of growing without bound.
final class LineReader {
    enum Line {
        case text([UInt8])
        /// Longer than the limit; the rest of it has been skipped.
        case tooLong
    }

    let maxLineBytes: Int
    private let file: UnsafeMutablePointer<FILE>
    private var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    private var start = 0
    private var end = 0
    private var atEOF = false
    /// 1-based number of the line `next()` returned last.
    private(set) var lineNumber = 0

    /// 64 KiB: a manifest line is an id, a path and a digest; anything longer is not a line of
    /// ours (a binary file, a runaway quote) and is one failed line, not a memory hazard.
    static let defaultMaxLineBytes = 64 * 1024

    /// Opens `path` only if it is a regular file: a FIFO given as a manifest must not block.
    init(path: String, maxLineBytes: Int = LineReader.defaultMaxLineBytes) throws {
        let opened: RegularFile
        do { opened = try RegularFile(path: path, what: "manifest or list file") } catch let error as FileAccessError {
            throw PipelineError(path, error.reason)
        }
        // The stream gets its own descriptor; `opened` closes the checked one when it goes.
        let fd = dup(opened.descriptor)
        guard fd >= 0, let file = fdopen(fd, "rb") else {
            close(fd)
            throw PipelineError(path, "cannot open: \(String(cString: strerror(errno)))")
        }
        self.file = file
        self.maxLineBytes = maxLineBytes
    }

    deinit { fclose(file) }

    /// The next line without its "\n" (and "\r" before it), or nil at the end of the file.
    func next() -> Line? {
        var line: [UInt8] = []
        var overflowed = false
        while true {
            if start == end {
                if atEOF { break }
                let n = buffer.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
                if n == 0 { atEOF = true; break }
                start = 0
                end = n
            }
            if let newline = buffer[start..<end].firstIndex(of: 10) {
                if !overflowed { line += buffer[start..<newline] }
                start = newline + 1
                lineNumber += 1
                return finish(line, overflowed)
            }
            if !overflowed { line += buffer[start..<end] }
            start = end
            if line.count > maxLineBytes { overflowed = true; line = [] }
        }
        // End of file: a last line without "\n" still counts.
        if line.isEmpty && !overflowed { return nil }
        lineNumber += 1
        return finish(line, overflowed)
    }

    private func finish(_ line: [UInt8], _ overflowed: Bool) -> Line {
        if overflowed || line.count > maxLineBytes { return .tooLong }
        return .text(line.last == 13 ? Array(line.dropLast()) : line)
    }
}

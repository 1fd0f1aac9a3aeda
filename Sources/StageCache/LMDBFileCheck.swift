import Foundation

/// Checks a `data.mdb` before LMDB maps it, the way LMDB reads it (both meta pages, the newer one
/// wins) plus what LMDB does not check: that the file really holds every page the newer meta page
/// says is in use. A file that fails is refused with `CacheError.invalidLMDBFile` instead of being
/// mapped (a truncated file maps fine and then dies with SIGBUS on the first read past its end).
enum LMDBFileCheck {
    enum Outcome: Sendable {
        /// No file, or an empty one: LMDB creates a new environment there (when writing).
        case absent
        case valid(LMDBMetaPage)
    }

    static func check(dataFile path: String) throws -> Outcome {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            if code == ENOENT { return .absent }
            if code == EACCES || code == EPERM {
                throw CacheError.readOnly(path: URL(fileURLWithPath: path).deletingLastPathComponent().path,
                                          reason: "\(path) cannot be read: \(String(cString: strerror(code)))")
            }
            throw CacheError.invalidLMDBFile(path: path, reason: "cannot open it: \(String(cString: strerror(code)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw CacheError.invalidLMDBFile(path: path, reason: "cannot stat it: \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw CacheError.invalidLMDBFile(path: path, reason: "it is not a regular file")
        }
        let size = Int(info.st_size)
        if size == 0 { return .absent }
        do {
            let first = try LMDBMetaPage(read(fd, at: 0), index: 0)
            let second = try LMDBMetaPage(read(fd, at: first.pageSize), index: 1)
            guard first.pageSize == second.pageSize else {
                throw LMDBFileProblem("the meta pages disagree on the page size (\(first.pageSize) and \(second.pageSize) bytes)")
            }
            // LMDB's rule: the meta page with the higher transaction id is current (page 0 on a tie).
            let current = second.transaction > first.transaction ? second : first
            try current.check(fileSize: size)
            return .valid(current)
        } catch let problem as LMDBFileProblem {
            throw CacheError.invalidLMDBFile(path: path, reason: problem.reason)
        }
    }

    /// Up to `LMDBMetaPage.byteCount` bytes at `offset` (fewer at the end of the file).
    private static func read(_ fd: Int32, at offset: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: LMDBMetaPage.byteCount)
        let got = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) }
        guard got >= 0 else { throw LMDBFileProblem("cannot read it: \(String(cString: strerror(errno)))") }
        return Array(bytes.prefix(got))
    }
}

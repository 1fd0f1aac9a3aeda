import Foundation

/// Where LMDB mapped data.mdb in this process, so every key and value it hands back can be checked
/// to lie inside the file before we read it.
///
/// LMDB checks that a page number is below the last page (so whole pages are inside the file once
/// `LMDBFileCheck` has passed) but trusts the sizes written inside a page: a corrupt node size or
/// overflow-page count yields a value that runs past the end of the file, and reading it is a SIGBUS
/// (or a SIGSEGV past the map). The map address is not in LMDB's API (`me_mapaddr` is only set with
/// MDB_FIXEDMAP), so it is read from /proc/self/maps by the file's inode. Where that is unavailable
/// (not Linux) `base` stays nil and values are not checked.
final class MapBounds: @unchecked Sendable {
    private let dataFile: String
    private let lock = NSLock()
    private var base: UInt = 0
    private var length: UInt = 0
    private var fileSize: UInt = 0

    init(dataFile: String) { self.dataFile = dataFile }

    /// Finds the map again; call after LMDB (re)maps the file (open, resize).
    func locate() {
        var info = stat()
        guard stat(dataFile, &info) == 0 else { return }
        let found = Self.mapping(inode: UInt64(info.st_ino))
        lock.withLock {
            (base, length) = found ?? (0, 0)
            fileSize = UInt(max(0, info.st_size))
        }
    }

    /// Throws unless `buffer` is outside the map (a page this write transaction dirtied lives on
    /// the heap) or inside it and within the file. In a read transaction every buffer must be
    /// inside the map (`mustBeMapped`).
    func check(_ buffer: UnsafeRawBufferPointer, mustBeMapped: Bool, what: @autoclosure () -> String) throws {
        let (base, length, fileSize) = lock.withLock { (self.base, self.length, self.fileSize) }
        guard base != 0 else { return }
        let start = UInt(bitPattern: buffer.baseAddress ?? UnsafeRawPointer(bitPattern: base))
        let inMap = start >= base && start < base &+ length
        if !inMap {
            guard mustBeMapped, buffer.count > 0 else { return }
            throw CacheError.corruptLMDBPage(path: dataFile, reason: "\(what()) points outside the mapped file")
        }
        let offset = start - base
        let (end, overflow) = offset.addingReportingOverflow(UInt(buffer.count))
        if !overflow && end <= fileSize { return }
        // The file may have grown since we looked (another process committed): look again.
        var info = stat()
        let grown = stat(dataFile, &info) == 0 ? UInt(max(0, info.st_size)) : fileSize
        lock.withLock { self.fileSize = max(self.fileSize, grown) }
        if !overflow && end <= grown { return }
        throw CacheError.corruptLMDBPage(path: dataFile, reason: "\(what()) of \(buffer.count) bytes at offset \(offset) "
                                         + "runs past the end of the file (\(grown) bytes)")
    }

    /// The first mapping of the file with this inode: (start address, length).
    private static func mapping(inode: UInt64) -> (UInt, UInt)? {
        #if os(Linux)
        guard let text = try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            // "start-end perms offset dev inode   path"
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count >= 6, UInt64(fields[4]) == inode, fields[5].hasSuffix("data.mdb") else { continue }
            let range = fields[0].split(separator: "-")
            guard range.count == 2, let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16) else { continue }
            return (start, end - start)
        }
        #endif
        return nil
    }
}

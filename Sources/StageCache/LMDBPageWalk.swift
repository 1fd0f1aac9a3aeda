import Foundation

/// A structural check of every B-tree page of data.mdb, read with pread (never through the map),
/// before a whole-cache scan lets LMDB follow those pages.
///
/// LMDB trusts the inside of its pages: a leaf page whose flags say "branch" trips an assertion
/// (abort), a node offset or size that points past the page makes it, or us, read past the end of
/// the file (SIGBUS). `LMDBFileCheck` covers the meta pages; this covers what they point to: each
/// page's number, type and bounds, each node's offset and sizes, each child and overflow page
/// number, the named trees in the main tree, and the free list's page lists. It costs one read of
/// every branch and leaf page (overflow pages only by their header), which `verify` and `stats`
/// pay anyway; single lookups do not walk (see Cache/README.md, "Corrupt files").
struct LMDBPageWalk {
    static let headerSize = 16
    static let nodeHeaderSize = 8
    static let branch: UInt16 = 0x01, leaf: UInt16 = 0x02, overflow: UInt16 = 0x04
    static let bigData: UInt16 = 0x01, subData: UInt16 = 0x02, dupData: UInt16 = 0x04
    static let maxKeySize = 511

    let dataFile: String
    let meta: LMDBMetaPage

    private enum Tree { case free, main, named }

    /// How much to walk.
    enum Scope {
        /// What opening a cache reads: the free list (a writer's page allocator), the main tree
        /// (where `mdb_dbi_open` finds the named trees) and the small `meta` tree. A few pages.
        case opening
        /// Every tree, for whole-cache scans.
        case everything
    }

    /// Walks the trees of the current meta page; throws `CacheError.corruptLMDBPage` naming the page.
    static func check(dataFile: String, scope: Scope) throws {
        guard case .valid(let meta) = try LMDBFileCheck.check(dataFile: dataFile) else { return }
        let fd = open(dataFile, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CacheError.invalidLMDBFile(path: dataFile, reason: "cannot open it: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var walker = Walker(fd: fd, meta: meta, scope: scope)
        do {
            try walker.walk(meta.freeTree.root, depth: meta.freeTree.depth, tree: .free)
            try walker.walk(meta.mainTree.root, depth: meta.mainTree.depth, tree: .main)
        } catch let problem as LMDBFileProblem {
            throw CacheError.corruptLMDBPage(path: dataFile, reason: problem.reason)
        }
    }

    private struct Walker {
        let fd: Int32
        let meta: LMDBMetaPage
        let scope: Scope
        var visited = Set<UInt64>()
        var pageSize: Int { meta.pageSize }

        init(fd: Int32, meta: LMDBMetaPage, scope: Scope) { (self.fd, self.meta, self.scope) = (fd, meta, scope) }

        func read(_ pgno: UInt64, bytes: Int) throws -> [UInt8] {
            var page = [UInt8](repeating: 0, count: bytes)
            let got = page.withUnsafeMutableBytes { pread(fd, $0.baseAddress, bytes, off_t(pgno) * off_t(pageSize)) }
            guard got == bytes else { throw LMDBFileProblem("page \(pgno) cannot be read whole (\(got) of \(bytes) bytes)") }
            return page
        }

        func checkNumber(_ pgno: UInt64, _ what: String) throws {
            guard pgno >= 2 && pgno <= meta.lastPage else {
                throw LMDBFileProblem("\(what) names page \(pgno), outside the data pages 2…\(meta.lastPage)")
            }
        }

        mutating func walk(_ root: UInt64, depth: Int, tree: Tree) throws {
            if root == LMDBMetaPage.noPage { return }
            try visit(root, levels: depth, tree: tree, from: "a tree root")
        }

        mutating func visit(_ pgno: UInt64, levels: Int, tree: Tree, from: String) throws {
            try checkNumber(pgno, from)
            guard levels >= 1 else { throw LMDBFileProblem("page \(pgno) lies deeper than its tree's recorded depth") }
            guard visited.insert(pgno).inserted else { throw LMDBFileProblem("page \(pgno) is reached twice (a cycle or a shared page)") }
            let page = try read(pgno, bytes: pageSize)
            func u16(_ at: Int) -> Int { Int(page[at]) | Int(page[at + 1]) << 8 }
            func u64(_ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(page[at + $1]) << (8 * $1) } }
            guard u64(0) == pgno else { throw LMDBFileProblem("page \(pgno) says it is page \(u64(0))") }
            let flags = UInt16(u16(10)) & 0x7f
            guard flags == LMDBPageWalk.branch || flags == LMDBPageWalk.leaf else {
                throw LMDBFileProblem("page \(pgno), reached from \(from), is neither a branch nor a leaf page (flags \(flags))")
            }
            let lower = u16(12), upper = u16(14)
            guard lower >= LMDBPageWalk.headerSize, lower <= upper, upper <= pageSize, (lower - LMDBPageWalk.headerSize) % 2 == 0 else {
                throw LMDBFileProblem("page \(pgno) has impossible bounds (lower \(lower), upper \(upper))")
            }
            let count = (lower - LMDBPageWalk.headerSize) / 2
            // LMDB asserts (and aborts) on a branch page of fewer than two keys outside the free list.
            if flags == LMDBPageWalk.branch && count < (tree == .free ? 1 : 2) {
                throw LMDBFileProblem("branch page \(pgno) has \(count) keys")
            }
            if flags == LMDBPageWalk.leaf && levels != 1 && tree != .free {
                throw LMDBFileProblem("leaf page \(pgno) sits above the bottom of its tree")
            }
            for i in 0..<count {
                let node = u16(LMDBPageWalk.headerSize + 2 * i)
                guard node >= upper, node + LMDBPageWalk.nodeHeaderSize <= pageSize else {
                    throw LMDBFileProblem("page \(pgno): node \(i) at offset \(node) is outside the page's node area")
                }
                let low = u16(node), high = u16(node + 2), nodeFlags = UInt16(u16(node + 4)), keySize = u16(node + 6)
                let key = node + LMDBPageWalk.nodeHeaderSize
                guard keySize <= LMDBPageWalk.maxKeySize, key + keySize <= pageSize else {
                    throw LMDBFileProblem("page \(pgno): node \(i) has a key of \(keySize) bytes past the page")
                }
                if flags == LMDBPageWalk.branch {
                    let child = UInt64(low) | UInt64(high) << 16 | UInt64(nodeFlags) << 32
                    try visit(child, levels: levels - 1, tree: tree, from: "branch page \(pgno)")
                    continue
                }
                let dataSize = low | high << 16
                let data = key + keySize
                if nodeFlags & LMDBPageWalk.dupData != 0 || nodeFlags & ~(LMDBPageWalk.bigData | LMDBPageWalk.subData) != 0 {
                    throw LMDBFileProblem("page \(pgno): node \(i) has flags \(nodeFlags), which no tree of this cache uses")
                }
                if nodeFlags & LMDBPageWalk.bigData != 0 {
                    guard data + 8 <= pageSize else { throw LMDBFileProblem("page \(pgno): node \(i)'s overflow page number is past the page") }
                    try checkOverflow(u64(data), size: dataSize, from: "leaf page \(pgno)")
                    continue
                }
                guard data + dataSize <= pageSize else {
                    throw LMDBFileProblem("page \(pgno): node \(i) has \(dataSize) bytes of data past the page")
                }
                if nodeFlags & LMDBPageWalk.subData != 0 {
                    guard tree == .main, dataSize == 48 else { throw LMDBFileProblem("page \(pgno): node \(i) is a misplaced sub-database record") }
                    let depth = u16(data + 6)
                    guard depth <= LMDBMetaPage.maxDepth else { throw LMDBFileProblem("page \(pgno): a sub-database claims depth \(depth)") }
                    if scope == .everything || page[key..<(key + keySize)].elementsEqual("meta".utf8) {
                        try walk(u64(data + 40), depth: depth, tree: .named)
                    }
                } else if tree == .free {
                    // A free-list entry: a page-number list, its count first.
                    guard dataSize >= 8, dataSize % 8 == 0, (Int(u64(data)) + 1) * 8 <= dataSize else {
                        throw LMDBFileProblem("page \(pgno): free-list entry \(i) is malformed")
                    }
                }
            }
        }

        /// An overflow value: its first page must be an overflow page spanning the value, inside the file.
        mutating func checkOverflow(_ pgno: UInt64, size: Int, from: String) throws {
            try checkNumber(pgno, from)
            let header = try read(pgno, bytes: LMDBPageWalk.headerSize)
            let flags = UInt16(header[10]) | UInt16(header[11]) << 8
            let pages = (12..<16).reduce(0) { $0 | Int(header[$1]) << (8 * ($1 - 12)) }
            let needed = (LMDBPageWalk.headerSize - 1 + size) / pageSize + 1
            guard flags & LMDBPageWalk.overflow != 0, pages >= needed, pgno + UInt64(pages) - 1 <= meta.lastPage else {
                throw LMDBFileProblem("overflow page \(pgno) (from \(from)) does not hold a value of \(size) bytes inside the file")
            }
            guard visited.insert(pgno).inserted else { throw LMDBFileProblem("overflow page \(pgno) is reached twice") }
        }
    }
}

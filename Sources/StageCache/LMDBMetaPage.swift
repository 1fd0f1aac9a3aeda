/// One of the two meta pages at the start of an LMDB data file, decoded from plain bytes.
///
/// LMDB trusts these fields when it opens a file: it maps `(last page + 1) × page size` bytes and
/// reads any page below the last one, so a meta page that lies (or a file shorter than it claims)
/// makes LMDB read past the end of the file (SIGBUS). Decoding them ourselves, with file reads
/// rather than a map, lets a bad file be refused with a message instead.
///
/// Layout (liblmdb 0.9, 64-bit `size_t` page numbers, little-endian):
/// page header {pgno u64, pad u16, flags u16, lower u16, upper u16} (16 bytes), then MDB_meta
/// {magic u32, version u32, address u64, mapsize u64, dbs[2] × MDB_db, last_pg u64, txnid u64}
/// where MDB_db is {pad u32, flags u16, depth u16, branch u64, leaf u64, overflow u64, entries u64,
/// root u64} (48 bytes) and dbs[0].pad holds the page size.
struct LMDBMetaPage: Sendable {
    /// Page header + MDB_meta: what LMDB itself reads of each meta page.
    static let byteCount = 16 + 136
    static let magic: UInt32 = 0xBEEF_C0DE
    static let dataVersion: UInt32 = 1
    static let metaFlag: UInt16 = 0x08
    /// Page number of an empty tree's root.
    static let noPage = UInt64.max
    /// Page sizes LMDB can have written (it caps the OS page size at 32 KiB; 64 KiB with PAGEBASE).
    static let pageSizes = 512...65536
    /// LMDB's cursor stack depth: a deeper tree cannot be read.
    static let maxDepth = 32

    struct Tree: Sendable {
        let depth: Int
        let entries: UInt64
        let root: UInt64
    }

    let index: Int
    let pageSize: Int
    let mapSize: UInt64
    let lastPage: UInt64
    let transaction: UInt64
    let freeTree: Tree
    let mainTree: Tree

    /// Decodes meta page `index` (0 or 1) from its first `byteCount` bytes, or says what is wrong.
    init(_ bytes: [UInt8], index: Int) throws(LMDBFileProblem) {
        guard bytes.count >= Self.byteCount else {
            throw LMDBFileProblem("meta page \(index) is cut short (\(bytes.count) of \(Self.byteCount) bytes)")
        }
        func u16(_ at: Int) -> UInt16 { UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 }
        func u32(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << (8 * $1) } }
        func u64(_ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[at + $1]) << (8 * $1) } }
        self.index = index
        guard u16(10) & Self.metaFlag != 0 else { throw LMDBFileProblem("page \(index) is not a meta page") }
        guard u32(16) == Self.magic else { throw LMDBFileProblem("meta page \(index) has no LMDB magic number") }
        guard u32(20) == Self.dataVersion else {
            throw LMDBFileProblem("meta page \(index) has data format version \(u32(20)), LMDB 0.9 reads \(Self.dataVersion)")
        }
        mapSize = u64(32)
        let pageSize = Int(u32(40))
        guard Self.pageSizes.contains(pageSize), pageSize & (pageSize - 1) == 0 else {
            throw LMDBFileProblem("meta page \(index) gives a page size of \(pageSize) bytes")
        }
        self.pageSize = pageSize
        func tree(_ at: Int) -> Tree { Tree(depth: Int(u16(at + 6)), entries: u64(at + 32), root: u64(at + 40)) }
        freeTree = tree(40)
        mainTree = tree(88)
        lastPage = u64(136)
        transaction = u64(144)
    }

    /// Checks that the fields LMDB will trust describe a file of `fileSize` bytes.
    func check(fileSize: Int) throws(LMDBFileProblem) {
        // Pages 0 and 1 are the meta pages themselves.
        guard lastPage >= 1 else { throw LMDBFileProblem("meta page \(index) says the last page is \(lastPage)") }
        let (pages, overflow1) = lastPage.addingReportingOverflow(1)
        let (needed, overflow2) = pages.multipliedReportingOverflow(by: UInt64(pageSize))
        guard !overflow1, !overflow2, needed <= UInt64(fileSize) else {
            throw LMDBFileProblem("truncated: meta page \(index) (transaction \(transaction)) says pages 0…\(lastPage) of "
                                  + "\(pageSize) bytes are in use, \(overflow2 ? "more than 2^64" : String(needed)) bytes, "
                                  + "but the file holds \(fileSize) bytes")
        }
        // No machine maps more than 2^47 bytes; a larger figure is a corrupt field, and LMDB would try.
        guard mapSize <= 1 << 47 else { throw LMDBFileProblem("meta page \(index) claims a map of \(mapSize) bytes") }
        for (name, tree) in [("free-page", freeTree), ("main", mainTree)] {
            guard tree.root == Self.noPage || (tree.root >= 2 && tree.root <= lastPage) else {
                throw LMDBFileProblem("meta page \(index): the \(name) tree's root page \(tree.root) is not a data page "
                                      + "(pages 2…\(lastPage) are)")
            }
            guard tree.depth <= Self.maxDepth else {
                throw LMDBFileProblem("meta page \(index): the \(name) tree claims a depth of \(tree.depth)")
            }
        }
    }
}

/// What is wrong with a data file, in words (becomes `CacheError.invalidLMDBFile`).
struct LMDBFileProblem: Error, Sendable {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

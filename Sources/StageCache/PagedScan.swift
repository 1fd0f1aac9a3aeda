extension LMDBEnvironment {
    /// Visits every entry of `db` in key order, `pageSize` entries per read transaction, so a scan
    /// of a large cache never pins one snapshot (and its pages) for minutes. `body` runs inside the
    /// page's transaction: it must copy or decode what it keeps.
    func scan(_ db: Database, pageSize: Int = 256,
              _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void) throws {
        var from: [UInt8]? = nil
        while true {
            var seen = 0
            var last: [UInt8]? = nil
            try read { txn in
                try txn.forEach(db, from: from) { k, v in
                    if let from, seen == 0, k.elementsEqual(from) { return true }  // resumed on the last key
                    try body(k, v)
                    seen += 1
                    last = Array(k)
                    return seen < pageSize
                }
            }
            guard seen == pageSize, let last else { return }
            from = last
        }
    }
}

extension LMDBEnvironment {
    /// Walks every page of the file (`LMDBPageWalk`) before a whole-cache scan follows them. The
    /// read transaction held meanwhile keeps writers from reusing the pages being walked.
    func checkStructure() throws {
        try read { _ in try LMDBPageWalk.check(dataFile: dataFile, scope: .everything) }
    }
}

import CLMDB
import Foundation

/// One LMDB environment (a cache directory: data.mdb + lock.mdb) with its named sub-databases.
///
/// Rules it enforces: MDB_NOTLS (Swift tasks hop threads, so a read txn is not tied to a thread);
/// one environment per path per process; never used in a forked child; the map grows on
/// MDB_MAP_FULL and adopts another process's growth on MDB_MAP_RESIZED. Transactions are scoped
/// to closures so no pointer into the map can outlive them.
final class LMDBEnvironment: @unchecked Sendable {
    enum Database: String, CaseIterable { case records, blobs, done, meta, stats }

    let path: String
    private let env: OpaquePointer
    private var dbis: [Database: MDB_dbi] = [:]
    private let openedBy = getpid()
    /// Resizing the map needs no live txn in this process: every txn holds this lock shared,
    /// a resize holds it exclusively.
    private let resizeLock: UnsafeMutablePointer<pthread_rwlock_t>
    private let sizeLock = NSLock()
    private var _mapSize: Int
    let maxMapSize: Int
    private var isClosed = false

    private static let registryLock = NSLock()
    nonisolated(unsafe) private static var openPaths: Set<String> = []

    struct Durability: Sendable { let flags: UInt32 }

    init(directory: String, initialMapSize: Int, maxMapSize: Int, extraFlags: UInt32) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let canonical = URL(fileURLWithPath: directory).resolvingSymlinksInPath().standardizedFileURL.path
        path = canonical
        try Self.registryLock.withLock {
            guard !Self.openPaths.contains(canonical) else { throw CacheError.alreadyOpen(path: canonical) }
            Self.openPaths.insert(canonical)
        }
        var e: OpaquePointer?
        do {
            try LMDBError.check(mdb_env_create(&e), "mdb_env_create")
        } catch {
            Self.registryLock.withLock { _ = Self.openPaths.remove(canonical) }
            throw error
        }
        env = e!
        resizeLock = .allocate(capacity: 1)
        pthread_rwlock_init(resizeLock, nil)
        _mapSize = initialMapSize
        self.maxMapSize = max(maxMapSize, initialMapSize)
        do {
            try LMDBError.check(mdb_env_set_maxdbs(env, MDB_dbi(Database.allCases.count + 2)), "mdb_env_set_maxdbs")
            try LMDBError.check(mdb_env_set_mapsize(env, initialMapSize), "mdb_env_set_mapsize(\(initialMapSize))")
            try LMDBError.check(mdb_env_set_maxreaders(env, 256), "mdb_env_set_maxreaders")
            try LMDBError.check(mdb_env_open(env, canonical, UInt32(MDB_NOTLS) | extraFlags, 0o644),
                                "mdb_env_open(\(canonical))")
            // A map that another process already grew is larger than ours: adopt it.
            var info = MDB_envinfo()
            mdb_env_info(env, &info)
            _mapSize = max(initialMapSize, info.me_mapsize)
            try write { txn in
                for db in Database.allCases {
                    var dbi = MDB_dbi()
                    try LMDBError.check(mdb_dbi_open(txn.txn, db.rawValue, UInt32(MDB_CREATE), &dbi),
                                        "mdb_dbi_open(\(db.rawValue)) in \(canonical)")
                    dbis[db] = dbi
                }
            }
        } catch {
            mdb_env_close(env)
            pthread_rwlock_destroy(resizeLock); resizeLock.deallocate()
            Self.registryLock.withLock { _ = Self.openPaths.remove(canonical) }
            throw error
        }
    }

    deinit { close() }

    func close() {
        let shouldClose: Bool = sizeLock.withLock { defer { isClosed = true }; return !isClosed }
        guard shouldClose else { return }
        pthread_rwlock_wrlock(resizeLock)
        mdb_env_close(env)
        pthread_rwlock_unlock(resizeLock)
        Self.registryLock.withLock { _ = Self.openPaths.remove(path) }
    }

    var mapSize: Int { sizeLock.withLock { _mapSize } }

    func dbi(_ db: Database) -> MDB_dbi { dbis[db]! }

    private func checkUsable() throws {
        guard getpid() == openedBy else { throw CacheError.openedInAnotherProcess(path: path) }
        guard !sizeLock.withLock({ isClosed }) else { throw CacheError.closed(path: path) }
    }

    // MARK: map size

    /// Another process grew the map: take its size (LMDB reads it from the file when given 0).
    private func adoptMapSize() throws {
        pthread_rwlock_wrlock(resizeLock); defer { pthread_rwlock_unlock(resizeLock) }
        try LMDBError.check(mdb_env_set_mapsize(env, 0), "mdb_env_set_mapsize(0) after MDB_MAP_RESIZED in \(path)")
        var info = MDB_envinfo(); mdb_env_info(env, &info)
        sizeLock.withLock { _mapSize = info.me_mapsize }
    }

    private func growMap(from observed: Int) throws {
        pthread_rwlock_wrlock(resizeLock); defer { pthread_rwlock_unlock(resizeLock) }
        let current = sizeLock.withLock { _mapSize }
        guard current == observed else { return }  // someone grew it meanwhile
        guard current < maxMapSize else {
            throw LMDBError(code: MDB_MAP_FULL, operation: "write to \(path): map is at its maximum \(maxMapSize) bytes")
        }
        let next = min(maxMapSize, current * 2)
        try LMDBError.check(mdb_env_set_mapsize(env, next), "mdb_env_set_mapsize(\(next)) growing \(path)")
        sizeLock.withLock { _mapSize = next }
    }

    // MARK: transactions

    /// A short read transaction. `body` must copy or decode what it reads: the buffers it sees
    /// point into the map and die with the transaction.
    func read<R>(_ body: (Transaction) throws -> R) throws -> R {
        try checkUsable()
        while true {
            pthread_rwlock_rdlock(resizeLock)
            var t: OpaquePointer?
            let rc = mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &t)
            if rc == MDB_MAP_RESIZED { pthread_rwlock_unlock(resizeLock); try adoptMapSize(); continue }
            if rc != MDB_SUCCESS { pthread_rwlock_unlock(resizeLock); throw LMDBError(code: rc, operation: "mdb_txn_begin(read) in \(path)") }
            defer { mdb_txn_abort(t); pthread_rwlock_unlock(resizeLock) }
            return try body(Transaction(txn: t!, environment: self))
        }
    }

    /// A write transaction, committed when `body` returns. On MDB_MAP_FULL the transaction is
    /// aborted, the map doubled and `body` run again from the start, so `body` must only describe
    /// the writes (no side effects outside the transaction).
    func write<R>(_ body: (Transaction) throws -> R) throws -> R {
        try checkUsable()
        while true {
            let observed = mapSize
            pthread_rwlock_rdlock(resizeLock)
            var t: OpaquePointer?
            let rc = mdb_txn_begin(env, nil, 0, &t)
            if rc == MDB_MAP_RESIZED { pthread_rwlock_unlock(resizeLock); try adoptMapSize(); continue }
            if rc != MDB_SUCCESS { pthread_rwlock_unlock(resizeLock); throw LMDBError(code: rc, operation: "mdb_txn_begin(write) in \(path)") }
            let result: R
            do {
                result = try body(Transaction(txn: t!, environment: self))
            } catch let e as LMDBError where e.isMapFull {
                mdb_txn_abort(t); pthread_rwlock_unlock(resizeLock)
                try growMap(from: observed); continue
            } catch {
                mdb_txn_abort(t); pthread_rwlock_unlock(resizeLock)
                throw error
            }
            let commit = mdb_txn_commit(t)  // frees the txn whatever it returns
            pthread_rwlock_unlock(resizeLock)
            if commit == MDB_MAP_FULL { try growMap(from: observed); continue }
            try LMDBError.check(commit, "mdb_txn_commit in \(path)")
            return result
        }
    }

    /// `mdb_env_copy2` with MDB_CP_COMPACT into an existing, empty directory.
    func copyCompacted(to directory: String) throws {
        try checkUsable()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try LMDBError.check(mdb_env_copy2(env, directory, UInt32(MDB_CP_COMPACT)), "mdb_env_copy2(\(directory), MDB_CP_COMPACT)")
    }

    func fileSize() -> Int {
        (try? FileManager.default.attributesOfItem(atPath: path + "/data.mdb")[.size] as? Int) ?? 0
    }
}

/// A live transaction. Buffers returned by `get` and passed by `forEach` are valid only until
/// the closure that received this transaction returns.
struct Transaction {
    let txn: OpaquePointer
    let environment: LMDBEnvironment

    func get(_ db: LMDBEnvironment.Database, _ key: [UInt8]) throws -> UnsafeRawBufferPointer? {
        try key.withUnsafeBytes { k in
            var mk = MDB_val(mv_size: k.count, mv_data: UnsafeMutableRawPointer(mutating: k.baseAddress))
            var mv = MDB_val()
            let rc = mdb_get(txn, environment.dbi(db), &mk, &mv)
            if rc == MDB_NOTFOUND { return nil }
            try LMDBError.check(rc, "mdb_get(\(db.rawValue))")
            return UnsafeRawBufferPointer(start: mv.mv_data, count: mv.mv_size)
        }
    }

    /// Returns false when `noOverwrite` and the key already exists (the value is left untouched).
    @discardableResult
    func put(_ db: LMDBEnvironment.Database, _ key: [UInt8], _ value: [UInt8], noOverwrite: Bool = false) throws -> Bool {
        try key.withUnsafeBytes { k in
            try value.withUnsafeBytes { v in
                var mk = MDB_val(mv_size: k.count, mv_data: UnsafeMutableRawPointer(mutating: k.baseAddress))
                var mv = MDB_val(mv_size: v.count, mv_data: UnsafeMutableRawPointer(mutating: v.baseAddress))
                let rc = mdb_put(txn, environment.dbi(db), &mk, &mv, noOverwrite ? UInt32(MDB_NOOVERWRITE) : 0)
                if noOverwrite && rc == MDB_KEYEXIST { return false }
                try LMDBError.check(rc, "mdb_put(\(db.rawValue), \(v.count) bytes)")
                return true
            }
        }
    }

    @discardableResult
    func delete(_ db: LMDBEnvironment.Database, _ key: [UInt8]) throws -> Bool {
        try key.withUnsafeBytes { k in
            var mk = MDB_val(mv_size: k.count, mv_data: UnsafeMutableRawPointer(mutating: k.baseAddress))
            let rc = mdb_del(txn, environment.dbi(db), &mk, nil)
            if rc == MDB_NOTFOUND { return false }
            try LMDBError.check(rc, "mdb_del(\(db.rawValue))")
            return true
        }
    }

    /// Visits entries in key order starting at the first key ≥ `from`; `body` returns false to stop.
    func forEach(_ db: LMDBEnvironment.Database, from: [UInt8]? = nil,
                 _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws {
        var cursor: OpaquePointer?
        try LMDBError.check(mdb_cursor_open(txn, environment.dbi(db), &cursor), "mdb_cursor_open(\(db.rawValue))")
        defer { mdb_cursor_close(cursor) }
        var mk = MDB_val(), mv = MDB_val()
        var rc: Int32
        let start = from ?? []
        rc = start.withUnsafeBytes { k in
            if from == nil { return mdb_cursor_get(cursor, &mk, &mv, MDB_FIRST) }
            mk = MDB_val(mv_size: k.count, mv_data: UnsafeMutableRawPointer(mutating: k.baseAddress))
            return mdb_cursor_get(cursor, &mk, &mv, MDB_SET_RANGE)
        }
        while rc == MDB_SUCCESS {
            let keep = try body(UnsafeRawBufferPointer(start: mk.mv_data, count: mk.mv_size),
                                UnsafeRawBufferPointer(start: mv.mv_data, count: mv.mv_size))
            if !keep { return }
            rc = mdb_cursor_get(cursor, &mk, &mv, MDB_NEXT)
        }
        if rc != MDB_NOTFOUND { try LMDBError.check(rc, "mdb_cursor_get(\(db.rawValue))") }
    }

    func entryCount(_ db: LMDBEnvironment.Database) throws -> Int {
        var stat = MDB_stat()
        try LMDBError.check(mdb_stat(txn, environment.dbi(db), &stat), "mdb_stat(\(db.rawValue))")
        return stat.ms_entries
    }
}

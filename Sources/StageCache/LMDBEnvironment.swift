import CLMDB
import Foundation

/// One LMDB environment (a cache directory: data.mdb + lock.mdb) with its named sub-databases.
///
/// Rules it enforces: MDB_NOTLS (Swift tasks hop threads, so a read txn is not tied to a thread);
/// one environment per path per process; never used in a forked child; the map grows on
/// MDB_MAP_FULL and adopts another process's growth on MDB_MAP_RESIZED, a bounded number of times.
/// Transactions are scoped to closures so no pointer into the map can outlive them. The data file
/// is checked before LMDB maps it (`LMDBFileCheck`), and every key and value LMDB returns is checked
/// to lie inside the file (`MapBounds`), so a corrupt file is an error rather than a SIGBUS.
final class LMDBEnvironment: @unchecked Sendable {
    enum Database: String, CaseIterable { case records, blobs, done, meta, stats }

    let path: String
    let dataFile: String
    /// Opened with MDB_RDONLY: every write is refused with `CacheError.readOnly`.
    let isReadOnly: Bool
    private let env: OpaquePointer
    /// A sub-database a read-only environment does not have is absent here (reads find nothing).
    private var dbis: [Database: MDB_dbi] = [:]
    private let openedBy = getpid()
    /// Resizing the map needs no live txn in this process: every txn holds this lock shared,
    /// a resize holds it exclusively.
    private let resizeLock: UnsafeMutablePointer<pthread_rwlock_t>
    private let sizeLock = NSLock()
    private var _mapSize: Int
    let maxMapSize: Int
    private var isClosed = false
    let bounds: MapBounds

    /// A write that keeps meeting MDB_MAP_FULL / MDB_MAP_RESIZED gives up after this many tries
    /// (doubling from 64 KiB reaches 1 TiB in 24), so a lying map size can never spin forever.
    static let maxAttempts = 64

    private static let registryLock = NSLock()
    nonisolated(unsafe) private static var openPaths: Set<String> = []

    struct Durability: Sendable { let flags: UInt32 }

    init(directory: String, initialMapSize: Int, maxMapSize: Int, extraFlags: UInt32, readOnly: Bool = false) throws {
        let canonical = try CacheFolder.prepare(directory, create: !readOnly)
        path = canonical
        dataFile = canonical + "/data.mdb"
        isReadOnly = readOnly
        if case .absent = try LMDBFileCheck.check(dataFile: dataFile), readOnly {
            throw CacheError.noCache(path: canonical)
        }
        var flags = UInt32(MDB_NOTLS) | extraFlags
        if readOnly {
            flags |= UInt32(MDB_RDONLY)
            // Readers register in lock.mdb; where it cannot be written (a read-only copy, another
            // user's cache) read without it. Such a cache must not be written meanwhile (Cache/README.md).
            if !CacheFolder.lockFileIsWritable(canonical) { flags |= UInt32(MDB_NOLOCK) }
        }
        try Self.registryLock.withLock {
            guard !Self.openPaths.contains(canonical) else { throw CacheError.alreadyOpen(path: canonical) }
            Self.openPaths.insert(canonical)
        }
        var e: OpaquePointer?
        let created = mdb_env_create(&e)
        guard created == MDB_SUCCESS, let e else {
            Self.registryLock.withLock { _ = Self.openPaths.remove(canonical) }
            throw LMDBError(code: created, operation: "mdb_env_create")
        }
        env = e
        resizeLock = .allocate(capacity: 1)
        pthread_rwlock_init(resizeLock, nil)
        _mapSize = initialMapSize
        self.maxMapSize = max(maxMapSize, initialMapSize)
        bounds = MapBounds(dataFile: dataFile)
        // Fully initialised from here: a throw below runs deinit, so the failure path only closes
        // (once, through `close()`) and never frees what deinit frees.
        do {
            try LMDBError.check(mdb_env_set_maxdbs(env, MDB_dbi(Database.allCases.count + 2)), "mdb_env_set_maxdbs")
            try LMDBError.check(mdb_env_set_mapsize(env, initialMapSize), "mdb_env_set_mapsize(\(initialMapSize))")
            try LMDBError.check(mdb_env_set_maxreaders(env, 256), "mdb_env_set_maxreaders")
            mdb_env_set_assert(env, lmdbAssertionFailed)
            let opened = mdb_env_open(env, canonical, flags, 0o644)
            if opened != MDB_SUCCESS { throw StorageFailure.translate(opened, operation: "mdb_env_open", path: canonical) }
            // A map that another process already grew is larger than ours: adopt it.
            var info = MDB_envinfo()
            mdb_env_info(env, &info)
            _mapSize = max(initialMapSize, info.me_mapsize)
            bounds.locate()
            // The pages opening reads (main tree, free list), walked first under a read txn that
            // keeps writers from reusing them meanwhile: LMDB would follow a corrupt one blindly.
            try read { _ in try LMDBPageWalk.check(dataFile: dataFile, scope: .opening) }
            if readOnly { try openExistingDatabases() } else {
                try write { txn in
                    for db in Database.allCases {
                        var dbi = MDB_dbi()
                        try LMDBError.check(mdb_dbi_open(txn.txn, db.rawValue, UInt32(MDB_CREATE), &dbi),
                                            "mdb_dbi_open(\(db.rawValue)) in \(canonical)")
                        dbis[db] = dbi
                    }
                }
            }
        } catch {
            close()
            throw error
        }
    }

    /// Read-only: opens the sub-databases that exist (creating one needs a write transaction).
    /// The read transaction is committed, not aborted, so the handles outlive it.
    private func openExistingDatabases() throws {
        var t: OpaquePointer?
        try LMDBError.check(mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &t), "mdb_txn_begin(read) in \(path)")
        for db in Database.allCases {
            var dbi = MDB_dbi()
            let rc = mdb_dbi_open(t, db.rawValue, 0, &dbi)
            if rc == MDB_NOTFOUND { continue }
            if rc != MDB_SUCCESS { mdb_txn_abort(t); throw LMDBError(code: rc, operation: "mdb_dbi_open(\(db.rawValue)) in \(path)") }
            dbis[db] = dbi
        }
        try LMDBError.check(mdb_txn_commit(t), "mdb_txn_commit(read) in \(path)")
    }

    deinit {
        close()
        pthread_rwlock_destroy(resizeLock)
        resizeLock.deallocate()
    }

    /// Closes the environment once; later calls do nothing.
    func close() {
        let shouldClose: Bool = sizeLock.withLock { defer { isClosed = true }; return !isClosed }
        guard shouldClose else { return }
        pthread_rwlock_wrlock(resizeLock)
        mdb_env_close(env)
        pthread_rwlock_unlock(resizeLock)
        Self.registryLock.withLock { _ = Self.openPaths.remove(path) }
    }

    var mapSize: Int { sizeLock.withLock { _mapSize } }

    func dbi(_ db: Database) -> MDB_dbi? { dbis[db] }

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
        bounds.locate()
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
        bounds.locate()
    }

    private func gaveUp(_ what: String) -> CacheError {
        .corruptLMDBPage(path: dataFile, reason: "\(what) still failed after \(Self.maxAttempts) attempts "
                         + "(map size \(mapSize) bytes, at most \(maxMapSize))")
    }

    // MARK: transactions

    /// A short read transaction. `body` must copy or decode what it reads: the buffers it sees
    /// point into the map and die with the transaction.
    func read<R>(_ body: (Transaction) throws -> R) throws -> R {
        try checkUsable()
        for _ in 0..<Self.maxAttempts {
            pthread_rwlock_rdlock(resizeLock)
            var t: OpaquePointer?
            let rc = mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &t)
            if rc == MDB_MAP_RESIZED { pthread_rwlock_unlock(resizeLock); try adoptMapSize(); continue }
            if rc != MDB_SUCCESS { pthread_rwlock_unlock(resizeLock); throw LMDBError(code: rc, operation: "mdb_txn_begin(read) in \(path)") }
            defer { mdb_txn_abort(t); pthread_rwlock_unlock(resizeLock) }
            return try body(Transaction(txn: t!, environment: self, isReadOnly: true))
        }
        throw gaveUp("starting a read transaction (MDB_MAP_RESIZED)")
    }

    /// A write transaction, committed when `body` returns. On MDB_MAP_FULL the transaction is
    /// aborted, the map doubled and `body` run again from the start, so `body` must only describe
    /// the writes (no side effects outside the transaction).
    func write<R>(_ body: (Transaction) throws -> R) throws -> R {
        try checkUsable()
        guard !isReadOnly else { throw CacheError.readOnly(path: path, reason: "it was opened read-only") }
        for _ in 0..<Self.maxAttempts {
            let observed = mapSize
            pthread_rwlock_rdlock(resizeLock)
            var t: OpaquePointer?
            let rc = mdb_txn_begin(env, nil, 0, &t)
            if rc == MDB_MAP_RESIZED { pthread_rwlock_unlock(resizeLock); try adoptMapSize(); continue }
            if rc != MDB_SUCCESS {
                pthread_rwlock_unlock(resizeLock)
                throw StorageFailure.translate(rc, operation: "mdb_txn_begin(write)", path: path)
            }
            let tally = WriteTally()
            let result: R
            do {
                result = try body(Transaction(txn: t!, environment: self, isReadOnly: false, tally: tally))
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
            if commit != MDB_SUCCESS {
                throw StorageFailure.translate(commit, operation: "mdb_txn_commit", path: path,
                                               bytesWritten: tally.bytes)
            }
            return result
        }
        throw gaveUp("a write transaction (MDB_MAP_FULL / MDB_MAP_RESIZED)")
    }

    /// `mdb_env_copy2` with MDB_CP_COMPACT into an existing directory that holds no data.mdb.
    func copyCompacted(to directory: String) throws {
        try checkUsable()
        let rc = mdb_env_copy2(env, directory, UInt32(MDB_CP_COMPACT))
        if rc != MDB_SUCCESS {
            throw StorageFailure.translate(rc, operation: "mdb_env_copy2(MDB_CP_COMPACT) into \(directory)", path: directory)
        }
    }

    func fileSize() -> Int {
        (try? FileManager.default.attributesOfItem(atPath: path + "/data.mdb")[.size] as? Int) ?? 0
    }
}

/// LMDB's assertion hook: LMDB aborts the process after it returns (it asserts on structure it
/// cannot follow, e.g. a branch page with fewer than two keys in a corrupt file). This cannot stop
/// the abort, but it names the file and what to do, instead of a bare line about mdb.c.
private func lmdbAssertionFailed(_ env: OpaquePointer?, _ message: UnsafePointer<CChar>?) {
    var path: UnsafePointer<CChar>? = nil
    if let env { _ = mdb_env_get_path(env, &path) }
    let where_ = path.map { String(cString: $0) + "/data.mdb" } ?? "the cache's data.mdb"
    let text = "fssam: LMDB found \(where_) corrupt (\(message.map { String(cString: $0) } ?? "assertion failed")); "
        + "move it away or delete the cache folder\n"
    FileHandle.standardError.write(Data(text.utf8))
}

/// Bytes put in one write transaction: what a failed commit was trying to write (to tell a full
/// disk from another I/O error).
final class WriteTally {
    var bytes = 0
}

/// A live transaction. Buffers returned by `get` and passed by `forEach` are valid only until
/// the closure that received this transaction returns. Each is checked to lie inside data.mdb
/// before it is handed out.
struct Transaction {
    let txn: OpaquePointer
    let environment: LMDBEnvironment
    let isReadOnly: Bool
    var tally: WriteTally? = nil

    private func checked(_ buffer: UnsafeRawBufferPointer, _ what: @autoclosure () -> String) throws -> UnsafeRawBufferPointer {
        try environment.bounds.check(buffer, mustBeMapped: isReadOnly, what: what())
        return buffer
    }

    func get(_ db: LMDBEnvironment.Database, _ key: [UInt8]) throws -> UnsafeRawBufferPointer? {
        guard let dbi = environment.dbi(db) else { return nil }
        return try key.withUnsafeBytes { k in
            var mk = MDB_val(mv_size: k.count, mv_data: UnsafeMutableRawPointer(mutating: k.baseAddress))
            var mv = MDB_val()
            let rc = mdb_get(txn, dbi, &mk, &mv)
            if rc == MDB_NOTFOUND { return nil }
            try LMDBError.check(rc, "mdb_get(\(db.rawValue)) in \(environment.path)")
            return try checked(UnsafeRawBufferPointer(start: mv.mv_data, count: mv.mv_size), "a value in \(db.rawValue)")
        }
    }

    /// Returns false when `noOverwrite` and the key already exists (the value is left untouched).
    @discardableResult
    func put(_ db: LMDBEnvironment.Database, _ key: [UInt8], _ value: [UInt8], noOverwrite: Bool = false) throws -> Bool {
        guard let dbi = environment.dbi(db) else { throw CacheError.readOnly(path: environment.path, reason: "it was opened read-only") }
        tally?.bytes += key.count + value.count
        return try key.withUnsafeBytes { k in
            try value.withUnsafeBytes { v in
                var mk = MDB_val(mv_size: k.count, mv_data: UnsafeMutableRawPointer(mutating: k.baseAddress))
                var mv = MDB_val(mv_size: v.count, mv_data: UnsafeMutableRawPointer(mutating: v.baseAddress))
                let rc = mdb_put(txn, dbi, &mk, &mv, noOverwrite ? UInt32(MDB_NOOVERWRITE) : 0)
                if noOverwrite && rc == MDB_KEYEXIST { return false }
                try LMDBError.check(rc, "mdb_put(\(db.rawValue), \(v.count) bytes) in \(environment.path)")
                return true
            }
        }
    }

    @discardableResult
    func delete(_ db: LMDBEnvironment.Database, _ key: [UInt8]) throws -> Bool {
        guard let dbi = environment.dbi(db) else { return false }
        return try key.withUnsafeBytes { k in
            var mk = MDB_val(mv_size: k.count, mv_data: UnsafeMutableRawPointer(mutating: k.baseAddress))
            let rc = mdb_del(txn, dbi, &mk, nil)
            if rc == MDB_NOTFOUND { return false }
            try LMDBError.check(rc, "mdb_del(\(db.rawValue)) in \(environment.path)")
            return true
        }
    }

    /// Visits entries in key order starting at the first key ≥ `from`; `body` returns false to stop.
    func forEach(_ db: LMDBEnvironment.Database, from: [UInt8]? = nil,
                 _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws {
        guard let dbi = environment.dbi(db) else { return }
        var cursor: OpaquePointer?
        try LMDBError.check(mdb_cursor_open(txn, dbi, &cursor), "mdb_cursor_open(\(db.rawValue)) in \(environment.path)")
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
            let key = try checked(UnsafeRawBufferPointer(start: mk.mv_data, count: mk.mv_size), "a key in \(db.rawValue)")
            let value = try checked(UnsafeRawBufferPointer(start: mv.mv_data, count: mv.mv_size), "a value in \(db.rawValue)")
            let keep = try body(key, value)
            if !keep { return }
            rc = mdb_cursor_get(cursor, &mk, &mv, MDB_NEXT)
        }
        if rc != MDB_NOTFOUND { try LMDBError.check(rc, "mdb_cursor_get(\(db.rawValue)) in \(environment.path)") }
    }

    func entryCount(_ db: LMDBEnvironment.Database) throws -> Int {
        guard let dbi = environment.dbi(db) else { return 0 }
        var stat = MDB_stat()
        try LMDBError.check(mdb_stat(txn, dbi, &stat), "mdb_stat(\(db.rawValue)) in \(environment.path)")
        return stat.ms_entries
    }
}

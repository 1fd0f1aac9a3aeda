import CLMDB
import Foundation

/// How a cache is opened and how its writer batches.
public struct CacheOptions: Sendable {
    /// What a commit guarantees (see Cache/README.md "Sync policy").
    public enum Durability: Sendable {
        /// fsync data and meta page on every commit: a committed record survives a process crash
        /// and a power loss. The default; batching amortises the fsync.
        case full
        /// MDB_NOMETASYNC: a process crash loses nothing; a power loss may undo the last committed
        /// transaction but keeps the database consistent.
        case noMetaSync

        var flags: UInt32 { self == .full ? 0 : UInt32(MDB_NOMETASYNC) }
    }

    /// Starting map size. The map doubles on MDB_MAP_FULL; the file stays sparse either way.
    public var initialMapSize: Int = 1 << 30
    public var maxMapSize: Int = 1 << 40
    /// The writer commits when this many items are pending…
    public var batchItems: Int = 32
    /// …or this long after the first pending item arrived.
    public var batchMilliseconds: Int = 100
    public var durability: Durability = .full
    /// `.readOnly` opens with MDB_RDONLY (and without lock.mdb where it cannot be written): for
    /// commands that only read (stats, verify, explain, copy's source), so they work on a cache
    /// they cannot write. Writes are refused with `CacheError.readOnly`; hit/miss counters are not kept.
    public var access: Access = .readWrite
    public var codec = BlobCodec()
    /// Called after each successful commit (outside the transaction) with what became durable.
    public var onCommit: (@Sendable (CommitReport) -> Void)? = nil
    /// Where verification failures and timer-commit errors are reported.
    public var log: @Sendable (String) -> Void = { message in
        FileHandle.standardError.write(Data(("fssam cache: " + message + "\n").utf8))
    }

    public enum Access: Sendable { case readWrite, readOnly }

    public init() {}
}

/// What one writer commit made durable.
public struct CommitReport: Sendable {
    public let records: [Digest]
    public let doneItems: [(run: String, item: String)]
    public let blobsWritten: Int
    /// Blobs already present (deduplicated: not rewritten).
    public let blobsAlreadyPresent: Int
}

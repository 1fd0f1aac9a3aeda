/// Errors of the cache that are not plain LMDB failures. Each names what and where.
public enum CacheError: Error, Sendable, CustomStringConvertible {
    /// A stored blob failed verification. It is never returned; callers treat it as a miss.
    case digestMismatch(blob: Digest, actual: Digest, stage: String?)
    /// A blob's header or payload is inconsistent (bad magic, unknown kind, truncated, sizes lie).
    case corruptBlob(blob: Digest?, stage: String?, reason: String)
    case corruptRecord(key: Digest, reason: String)
    case missingBlob(blob: Digest, key: Digest?, stage: String?)
    case recordNotFound(key: Digest)
    case newerFormat(path: String, found: UInt32, supported: UInt32)
    case alreadyOpen(path: String)
    case openedInAnotherProcess(path: String)
    case closed(path: String)
    case invalidArgument(String)
    /// `data.mdb` is not something LMDB can safely map (bad meta pages, truncated, not a file).
    case invalidLMDBFile(path: String, reason: String)
    /// A value LMDB handed back lies outside the file: a corrupt page inside data.mdb.
    case corruptLMDBPage(path: String, reason: String)
    /// The cache cannot be written (permissions, read-only file system, or opened read-only).
    case readOnly(path: String, reason: String)
    /// A commit failed because the file system holding the cache is full.
    case noSpace(path: String, availableBytes: Int, reason: String)
    /// The cache path names something that is not a folder.
    case notAFolder(path: String)
    /// There is no cache (no data.mdb) where a read-only command looked.
    case noCache(path: String)

    /// The stage the error concerns, where known.
    public var stage: String? {
        switch self {
        case .digestMismatch(_, _, let s), .corruptBlob(_, let s, _), .missingBlob(_, _, let s): return s
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case let .digestMismatch(blob, actual, stage):
            return "blob \(blob.hex)\(stage.map { " (stage \($0))" } ?? "") failed verification: content hashes to \(actual.hex)"
        case let .corruptBlob(blob, stage, reason):
            return "corrupt blob\(blob.map { " \($0.hex)" } ?? "")\(stage.map { " (stage \($0))" } ?? ""): \(reason)"
        case let .corruptRecord(key, reason): return "corrupt record \(key.hex): \(reason)"
        case let .missingBlob(blob, key, stage):
            return "blob \(blob.hex) is missing\(key.map { " (record \($0.hex)" + (stage.map { ", stage \($0)" } ?? "") + ")" } ?? "")"
        case let .recordNotFound(key): return "no record with key \(key.hex)"
        case let .newerFormat(path, found, supported):
            return "cache at \(path) has format version \(found); this fssam reads up to \(supported) — upgrade fssam"
        case let .alreadyOpen(path):
            return "cache at \(path) is already open in this process (LMDB allows one environment per process)"
        case let .openedInAnotherProcess(path):
            return "cache at \(path) was opened before a fork; open it again in the child process"
        case let .closed(path): return "cache at \(path) is closed"
        case let .invalidArgument(s): return s
        case let .invalidLMDBFile(path, reason):
            return "\(path) is not a valid LMDB file (\(reason)): move it away or delete the cache folder"
        case let .corruptLMDBPage(path, reason):
            return "\(path) is corrupt (\(reason)): move it away or delete the cache folder"
        case let .readOnly(path, reason):
            return "cache \(path) is read-only (\(reason)); use --cache with a writable folder or copy it with fssam cache copy"
        case let .noSpace(path, available, reason):
            return "no space left on device for cache \(path) (\(available) bytes free on its file system; \(reason)): "
                + "free some space, shrink the cache with fssam cache gc, or use --cache with a folder on another disk"
        case let .notAFolder(path): return "cache path \(path) is a file, not a folder"
        case let .noCache(path): return "no cache at \(path) (no data.mdb there); pass --cache DIR or set FSSAM_CACHE"
        }
    }
}

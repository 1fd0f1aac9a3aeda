import Foundation

extension CacheStore {
    /// Writes a compacted copy (`mdb_env_copy2` + MDB_CP_COMPACT) to `destination`, which must be
    /// absent or an empty folder. Pending writes are committed first. The destination never holds
    /// a half-written cache: see `CompactedCopy`.
    public func copyCompacted(to destination: String) async throws {
        try await flush()
        try CompactedCopy(environment: environment, destination: destination).run()
    }
}

/// A copy written into a hidden sibling folder `.NAME.fssam-copy-PID`, synced, then renamed into
/// place, so a copy killed half-way leaves no `NAME/data.mdb` (which LMDB would map and SIGBUS on)
/// and does not block the next copy: a sibling whose process is gone is removed first.
struct CompactedCopy {
    let environment: LMDBEnvironment
    let destination: String

    static let temporaryMarker = ".fssam-copy-"

    func run() throws {
        let target = URL(fileURLWithPath: destination).standardizedFileURL.path
        let parent = URL(fileURLWithPath: target).deletingLastPathComponent().path
        let name = (target as NSString).lastPathComponent
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CacheError.invalidArgument("copy destination \(destination): its folder \(parent) does not exist")
        }
        if FileManager.default.fileExists(atPath: target, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw CacheError.notAFolder(path: destination) }
            if FileManager.default.fileExists(atPath: target + "/data.mdb") {
                throw CacheError.invalidArgument("copy destination \(destination) already holds a cache (data.mdb)")
            }
            guard (try? FileManager.default.contentsOfDirectory(atPath: target))?.isEmpty ?? false else {
                throw CacheError.invalidArgument("copy destination \(destination) is a folder that is not empty")
            }
        }
        removeAbandonedCopies(in: parent, of: name)
        let temporary = parent + "/." + name + Self.temporaryMarker + String(getpid())
        try? FileManager.default.removeItem(atPath: temporary)
        guard mkdir(temporary, 0o755) == 0 else {
            throw CacheError.invalidArgument("cannot write the copy next to \(destination): creating \(temporary) failed: "
                                             + String(cString: strerror(errno)))
        }
        do {
            try environment.copyCompacted(to: temporary)
            try Self.sync(temporary + "/data.mdb")
            // rename(2) replaces an empty folder atomically; readers see no copy or a whole one.
            guard rename(temporary, target) == 0 else {
                throw CacheError.invalidArgument("cannot move the finished copy \(temporary) to \(destination): "
                                                 + String(cString: strerror(errno)))
            }
            try? Self.sync(parent)
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
    }

    /// Removes `.NAME.fssam-copy-PID` folders whose process no longer runs (a killed copy).
    private func removeAbandonedCopies(in parent: String, of name: String) {
        let prefix = "." + name + Self.temporaryMarker
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] where entry.hasPrefix(prefix) {
            guard let pid = Int32(entry.dropFirst(prefix.count)) else { continue }
            if pid == getpid() || kill(pid, 0) != 0 && errno == ESRCH {
                try? FileManager.default.removeItem(atPath: parent + "/" + entry)
            }
        }
    }

    private static func sync(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CacheError.invalidArgument("cannot open \(path) to sync it: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw CacheError.invalidArgument("fsync of \(path) failed: \(String(cString: strerror(errno)))") }
    }
}

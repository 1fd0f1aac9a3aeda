import Foundation

/// The cache folder itself, before LMDB sees it: it must be a folder (a file there gets a plain
/// "is a file, not a folder" instead of a Foundation error dump), and creating it when missing
/// must say why it failed.
enum CacheFolder {
    /// Returns the canonical path of `directory`, creating it when `create` and it is missing.
    static func prepare(_ directory: String, create: Bool) throws -> String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw CacheError.notAFolder(path: directory) }
        } else if !create {
            throw CacheError.noCache(path: directory)
        } else {
            try makeFolder(directory)
        }
        return URL(fileURLWithPath: directory).resolvingSymlinksInPath().standardizedFileURL.path
    }

    /// Creates `directory` and its missing parents, naming the first component that stops it.
    private static func makeFolder(_ directory: String) throws {
        var missing: [String] = []
        // Absolute, and the parent taken by hand: NSString.deletingLastPathComponent traps on some
        // short relative paths (a cache named "c" crashed here with SIGILL).
        var current = URL(fileURLWithPath: directory).standardizedFileURL.path
        var isDirectory: ObjCBool = false
        while !current.isEmpty && current != "/" && !FileManager.default.fileExists(atPath: current, isDirectory: &isDirectory) {
            missing.append(current)
            current = current.lastIndex(of: "/").map { String(current[..<$0]) } ?? ""
        }
        if !current.isEmpty && current != "/" && !isDirectory.boolValue { throw CacheError.notAFolder(path: current) }
        for folder in missing.reversed() where mkdir(folder, 0o755) != 0 && errno != EEXIST {
            let code = errno
            let reason = "cannot create the folder \(folder): \(String(cString: strerror(code)))"
            if code == EACCES || code == EPERM || code == EROFS { throw CacheError.readOnly(path: directory, reason: reason) }
            if code == ENOSPC || code == EDQUOT {
                throw CacheError.noSpace(path: directory, availableBytes: StorageFailure.availableBytes(near: folder), reason: reason)
            }
            throw CacheError.invalidArgument("cannot use \(directory) as a cache: \(reason)")
        }
    }

    /// Whether LMDB can use lock.mdb in `directory` (open it for writing, or create it).
    static func lockFileIsWritable(_ directory: String) -> Bool {
        let lock = directory + "/lock.mdb"
        if FileManager.default.fileExists(atPath: lock) { return access(lock, R_OK | W_OK) == 0 }
        return access(directory, W_OK) == 0
    }
}

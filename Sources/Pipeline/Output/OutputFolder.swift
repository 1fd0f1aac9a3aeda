import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An output folder (`--out`, a shard's part folder, a merge's target) held by one process.
///
/// - **One writer**: an exclusive `flock` on `.fssam.lock`, held while this object lives (the
///   kernel drops it when the process dies, even by SIGKILL). A second process is refused at once,
///   naming the holder's PID, instead of interleaving its masks and reports with the first's.
/// - **One run**: `.fssam-run.json` says which run (supports, weights, parameters: the run id; and
///   the input) the folder's results belong to. Another run is refused with both descriptions,
///   unless forced, which first deletes what the old run wrote.
/// - **No debris**: holding the lock, every temporary file found is stale (its writer is gone), and
///   is removed when the previous holder did not finish cleanly.
public final class OutputFolder {
    public let path: String
    private let lockDescriptor: Int32

    static let lockFileName = ".fssam.lock"
    static let ownerFileName = ".fssam-run.json"
    /// What a run writes here, deleted by `--force` (shard parts below `shards/` are theirs to manage).
    static let resultNames = ["masks", "overlays", "probabilities", "results.jsonl", "errors.jsonl", "predictions.json",
                              RunManifest.fileName]

    /// The run whose results a folder holds.
    public struct Owner: Equatable, Sendable {
        public var runID: String
        /// Where the items come from ("queries /data/photos", "manifest /data/items.jsonl").
        public var input: String
        /// For people: supports, weights, parameters.
        public var details: [String]
        /// False while the run is under way (or after it was killed).
        public var finished = false

        public init(runID: String, input: String, details: [String]) {
            self.runID = runID
            self.input = input
            self.details = details
        }

        var text: String { (["run \(runID)", "input: \(input)"] + details).map { "    " + $0 }.joined(separator: "\n") }
    }

    /// Creates the folder if needed and takes its lock, or throws naming the process that holds it.
    public init(_ path: String) throws {
        try OutputLocation.prepareDirectory(path, for: path)
        self.path = path
        let lockPath = path + "/" + Self.lockFileName
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else {
            throw PipelineError(path, "cannot write in this folder (\(lockPath): \(String(cString: strerror(errno))))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            var bytes = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &bytes, bytes.count, 0)
            close(fd)
            let pid = n > 0 ? String(decoding: bytes[..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "?"
            throw PipelineError(path, "is in use by another fssam process (PID \(pid)); wait for it to finish, "
                                + "or write to another --out")
        }
        let pid = Array("\(getpid())\n".utf8)
        if ftruncate(fd, 0) != 0 || pwrite(fd, pid, pid.count, 0) != pid.count {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw PipelineError(lockPath, "cannot write: \(reason)")
        }
        lockDescriptor = fd
    }

    deinit { close(lockDescriptor) }

    /// Makes the folder `owner`'s, before anything is written: refuses another run's folder
    /// (unless `force`: then that run's results are deleted first), removes stale temporary files
    /// when the last holder did not finish, and records `owner` as under way.
    public func claim(for owner: Owner, force: Bool) throws {
        let previous = try previousOwner()
        if let previous, previous.runID != owner.runID || (previous.input != owner.input && !previous.input.isEmpty) {
            guard force else {
                throw PipelineError(path, "holds the results of another run:\n\(previous.text)\n  this run is:\n\(owner.text)\n"
                                    + "  write to another --out, or add --force to delete that run's results here first")
            }
            for name in Self.resultNames { try remove(path + "/" + name) }
        }
        if previous?.finished != true { try removeStaleTemporaries() }
        try write(owner)
    }

    /// Records that the owner's run finished: the next holder need not look for debris.
    public func markFinished(_ owner: Owner) throws {
        var done = owner
        done.finished = true
        try write(done)
    }

    // MARK: the owner file

    private func write(_ owner: Owner) throws {
        let json = CanonicalJSON.object([
            ("run_id", CanonicalJSON.string(owner.runID)),
            ("input", CanonicalJSON.string(owner.input)),
            ("details", "[" + owner.details.map(CanonicalJSON.string).joined(separator: ",") + "]"),
            ("finished", owner.finished ? "true" : "false"),
        ])
        try AtomicFile.write(Array((json + "\n").utf8), to: path + "/" + Self.ownerFileName)
    }

    /// The folder's owner: its owner file, else (a folder written by an earlier fssam) the run id
    /// of its `run.json`; nil for a folder no run has written.
    private func previousOwner() throws -> Owner? {
        let ownerPath = path + "/" + Self.ownerFileName
        if let owner = Self.recordedOwner(of: path) { return owner }
        let manifestPath = path + "/" + RunManifest.fileName
        if FileManager.default.fileExists(atPath: manifestPath), let manifest = try? RunManifest.read(manifestPath) {
            var owner = Owner(runID: manifest.runID, input: "", details: ["(written by an earlier fssam version)"])
            owner.finished = true
            return owner
        }
        if FileManager.default.fileExists(atPath: ownerPath) || FileManager.default.fileExists(atPath: manifestPath) {
            // Ours, but unreadable: the folder cannot be vouched for, so treat it as interrupted.
            return Owner(runID: "", input: "", details: ["(unreadable \(Self.ownerFileName) or run.json)"])
        }
        return nil
    }

    /// The owner recorded in `directory`'s owner file (a shard part's, for the merge), if readable.
    public static func recordedOwner(of directory: String) -> Owner? {
        guard let data = FileManager.default.contents(atPath: directory + "/" + ownerFileName), data.count < 1 << 20,
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let runID = object["run_id"] as? String, let input = object["input"] as? String else { return nil }
        var owner = Owner(runID: runID, input: input, details: object["details"] as? [String] ?? [])
        owner.finished = object["finished"] as? Bool ?? false
        return owner
    }

    // MARK: cleaning

    /// Every temporary file below the folder (shard parts aside), removed: holding the lock, no
    /// live process is writing one.
    func removeStaleTemporaries() throws {
        try removeTemporaries(in: path, skipping: ["shards"])
    }

    private func removeTemporaries(in directory: String, skipping: Set<String> = []) throws {
        guard let dir = opendir(directory) else { return }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            // The name read in place: a record can be shorter than `dirent` (d_reclen), so copying
            // `entry.pointee` may read past the end of readdir's buffer (a SIGSEGV, seen in a merge).
            let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
            let name = String(cString: (UnsafeRawPointer(entry) + nameOffset).assumingMemoryBound(to: CChar.self))
            guard name != ".", name != "..", !skipping.contains(name) else { continue }
            let child = directory + "/" + name
            var info = stat()
            guard lstat(child, &info) == 0 else { continue }
            switch info.st_mode & S_IFMT {
            case S_IFDIR: try removeTemporaries(in: child)
            case S_IFREG where TemporaryFile.isTemporary(name):
                guard unlink(child) == 0 || errno == ENOENT else {
                    throw PipelineError(child, "cannot remove a stale temporary file: \(String(cString: strerror(errno)))")
                }
            default: break
            }
        }
    }

    private func remove(_ target: String) throws {
        var info = stat()
        guard lstat(target, &info) == 0 else { return }
        do { try FileManager.default.removeItem(atPath: target) } catch {
            throw PipelineError(target, "cannot delete the other run's results (--force): \((error as NSError).localizedDescription)")
        }
    }
}

import Foundation
import StageCache
#if canImport(Glibc)
import Glibc
#endif

/// Puts every shard's `masks/` tree into the merged `OUT/masks/`: a hard link when source and
/// destination share a file system (no bytes copied, 10^6 masks in seconds), else a copy; either
/// way through a temporary name and a rename, so a reader never sees a partial mask.
struct MaskTreeLinker {
    let layout: MaskFileLayout
    private(set) var linked = 0
    private(set) var copied = 0
    /// 64-bit hashes of the relative paths placed so far (8 bytes per mask rather than the path):
    /// two shards writing one mask path (one item id in two shards) is refused.
    private var placed: [UInt64: String] = [:]

    init(outputDirectory: String) { layout = MaskFileLayout(outputDirectory: outputDirectory) }

    mutating func place(partDirectory: String, shard: String) throws {
        let root = partDirectory + "/masks"
        guard FileManager.default.fileExists(atPath: root) else { return }
        guard let walker = FileManager.default.enumerator(atPath: root) else {
            throw PipelineError(root, "cannot list the shard's masks")
        }
        while let relative = walker.nextObject() as? String {
            let source = root + "/" + relative
            var info = stat()
            guard lstat(source, &info) == 0 else { throw PipelineError(source, "cannot stat: \(String(cString: strerror(errno)))") }
            guard (info.st_mode & S_IFMT) == S_IFREG, !relative.split(separator: "/").last!.hasPrefix(".") else { continue }
            let hash = Digest64.of(relative)
            if let other = placed[hash] {
                throw PipelineError("masks/\(relative)", "written by both shard \(other) and shard \(shard) "
                                    + "(two item ids with one mask path); cannot tell which an unsharded run keeps")
            }
            placed[hash] = shard
            let destination = try layout.path(ofFile: relative, under: "masks")
            try place(source, info, at: destination)
        }
    }

    private mutating func place(_ source: String, _ info: stat, at destination: String) throws {
        var existing = stat()
        if lstat(destination, &existing) == 0 && existing.st_dev == info.st_dev && existing.st_ino == info.st_ino {
            linked += 1  // merged before: already this very file
            return
        }
        let directory = URL(fileURLWithPath: destination).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let temporary = TemporaryFile.path(in: directory, for: (destination as NSString).lastPathComponent)
        if link(source, temporary) == 0 {
            guard rename(temporary, destination) == 0 else {
                let reason = String(cString: strerror(errno))
                unlink(temporary)
                throw PipelineError(destination, "cannot move into place: \(reason)")
            }
            linked += 1
            return
        }
        // EXDEV (another file system) and file systems without hard links: copy.
        let bytes: [UInt8]
        do { bytes = Array(try Data(contentsOf: URL(fileURLWithPath: source))) } catch {
            throw PipelineError(source, "cannot read: \((error as NSError).localizedDescription)")
        }
        try AtomicFile.write(bytes, to: destination)
        copied += 1
    }
}

/// A 64-bit digest of a string (the first 8 bytes of its SHA-256).
enum Digest64 {
    static func of(_ text: String) -> UInt64 {
        Digest.sha256(Array(text.utf8)).bytes.prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
    }
}

import UntrustedInput
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The images under a `--queries` folder, walked lazily: only the directories on the current path
/// are held (one sorted listing each), never the whole dataset. The order is the byte order of the
/// item ids (relative paths), the same order the result files use, on every file system.
///
/// FileManager's enumerator is lazy but returns `readdir` order, which differs between file
/// systems and runs; so each directory is listed and sorted on its own. Directories sort as
/// `name/`, which makes the depth-first walk come out in byte order of the full relative path
/// (`a-b.png` before `a/x.png`, as '-' < '/').
///
/// Hidden files and folders (name starting with '.') are skipped, and so are the folders in
/// `excluding` (the run's `--out` and cache), compared by device and inode, so `--queries .
/// --out ./out` never lists its own masks, however the two paths are spelled.
///
/// Every entry whose name has an image extension is either an item or one failure, never a
/// silent skip: a FIFO, socket or device ("is a FIFO, not a regular file"; never opened, so it
/// cannot block), a dangling link, a symbolic link loop, a folder named like an image (reported,
/// and its contents are listed as usual). A symbolic link to a regular file is an item (its target
/// is read); symbolic links to folders are not followed (a link cycle would never end).
public struct DirectoryListing: Sequence, Sendable {
    public static let imageExtensions: Set<String> = ["jpg", "jpeg", "png", "webp", "tif", "tiff"]

    public let root: String
    /// Folders never listed; those that do not exist when the walk starts are ignored.
    public let excluding: [String]

    public init(root: String, excluding: [String] = []) {
        self.root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
        self.excluding = excluding
    }

    public func makeIterator() -> Iterator { Iterator(root: root, excluding: excluding) }

    /// A folder's identity: two spellings of one folder (`.`/`./out`, a symlinked path) agree.
    struct FolderID: Hashable {
        let device: UInt64
        let inode: UInt64
        init(_ info: stat) {
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
        }
    }

    enum EntryKind {
        case file, directory
        case failure(String)
    }

    public struct Iterator: IteratorProtocol {
        let root: String
        let excluding: [String]
        var excluded: Set<FolderID> = []
        /// Per open directory: its relative prefix and its remaining entries, smallest last.
        var stack: [(prefix: String, entries: [(name: String, kind: EntryKind)])] = []
        var started = false

        init(root: String, excluding: [String]) {
            self.root = root
            self.excluding = excluding
        }

        public mutating func next() -> InputEntry? {
            if !started {
                started = true
                // Resolved when the walk starts, not when the listing is made: the output folder
                // is created in between on a first run.
                for path in excluding {
                    var info = stat()
                    if stat(path, &info) == 0 { excluded.insert(FolderID(info)) }
                }
                if let failure = push(prefix: "") { return .failure(failure) }
            }
            while !stack.isEmpty {
                guard let entry = stack[stack.count - 1].entries.popLast() else {
                    stack.removeLast()
                    continue
                }
                let relative = stack[stack.count - 1].prefix + entry.name
                switch entry.kind {
                case .directory:
                    if let failure = push(prefix: relative + "/") { return .failure(failure) }
                case .file:
                    return .item(InputItem(id: relative, path: root + "/" + relative))
                case .failure(let reason):
                    return .failure(InputFailure(id: relative, source: root + "/" + relative, line: nil, reason: reason))
                }
            }
            return nil
        }

        /// Lists one directory; a failure (unreadable folder) is returned as an error item so the
        /// rest of the walk goes on.
        mutating func push(prefix: String) -> InputFailure? {
            let directory = prefix.isEmpty ? root : root + "/" + String(prefix.dropLast())
            let names: [String]
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: directory)
            } catch {
                return InputFailure(id: prefix.isEmpty ? nil : String(prefix.dropLast()), source: directory, line: nil,
                                    reason: "cannot list folder: \((error as NSError).localizedDescription)")
            }
            var entries: [(name: String, kind: EntryKind, key: String)] = []
            for name in names where !name.hasPrefix(".") {
                let looksLikeImage = DirectoryListing.isImage(name)
                let full = directory + "/" + name
                var info = stat()
                guard lstat(full, &info) == 0 else {
                    if looksLikeImage { entries.append((name, .failure("cannot inspect: \(String(cString: strerror(errno)))"), name)) }
                    continue
                }
                switch info.st_mode & S_IFMT {
                case S_IFDIR:
                    guard !excluded.contains(FolderID(info)) else { continue }
                    if looksLikeImage { entries.append((name, .failure("is a directory, not an image file (its contents are listed)"), name)) }
                    entries.append((name, .directory, name + "/"))
                case S_IFREG:
                    if looksLikeImage { entries.append((name, .file, name)) }
                case S_IFLNK:
                    guard looksLikeImage else { continue }
                    var target = stat()
                    if stat(full, &target) != 0 {
                        let reason = errno == ELOOP ? "symbolic link loop"
                            : errno == ENOENT ? "dangling symbolic link (its target does not exist)"
                            : "symbolic link cannot be followed: \(String(cString: strerror(errno)))"
                        entries.append((name, .failure(reason), name))
                    } else if target.st_mode & S_IFMT == S_IFREG {
                        entries.append((name, .file, name))
                    } else {
                        entries.append((name, .failure("symbolic link to \(RegularFile.irregularKind(target.st_mode) ?? "something else"), not a regular file"), name))
                    }
                default:
                    if looksLikeImage { entries.append((name, .failure("is \(RegularFile.irregularKind(info.st_mode) ?? "not a plain file"), not a regular file"), name)) }
                }
            }
            // Largest first, so popLast() yields in ascending order.
            entries.sort { ItemOrder.precedes($1.key, $0.key) }
            stack.append((prefix, entries.map { ($0.name, $0.kind) }))
            return nil
        }
    }

    static func isImage(_ name: String) -> Bool {
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return false }
        return imageExtensions.contains(name[name.index(after: dot)...].lowercased())
    }
}

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
/// Hidden files and folders (name starting with '.') are skipped. Symbolic links to files are
/// listed; symbolic links to folders are not followed (a link cycle would never end).
public struct DirectoryListing: Sequence, Sendable {
    public static let imageExtensions: Set<String> = ["jpg", "jpeg", "png", "webp", "tif", "tiff"]

    public let root: String

    public init(root: String) {
        self.root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
    }

    public func makeIterator() -> Iterator { Iterator(root: root) }

    public struct Iterator: IteratorProtocol {
        let root: String
        /// Per open directory: its relative prefix and its remaining entries, smallest last.
        var stack: [(prefix: String, entries: [(name: String, isDirectory: Bool)])] = []
        var started = false

        init(root: String) { self.root = root }

        public mutating func next() -> InputEntry? {
            if !started {
                started = true
                if let failure = push(prefix: "") { return .failure(failure) }
            }
            while !stack.isEmpty {
                guard let entry = stack[stack.count - 1].entries.popLast() else {
                    stack.removeLast()
                    continue
                }
                let relative = stack[stack.count - 1].prefix + entry.name
                if entry.isDirectory {
                    if let failure = push(prefix: relative + "/") { return .failure(failure) }
                } else {
                    return .item(InputItem(id: relative, path: root + "/" + relative))
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
            var entries: [(name: String, isDirectory: Bool, key: String)] = []
            for name in names where !name.hasPrefix(".") {
                let full = directory + "/" + name
                var info = stat()
                guard lstat(full, &info) == 0 else { continue }
                switch info.st_mode & S_IFMT {
                case S_IFDIR:
                    entries.append((name, true, name + "/"))
                case S_IFREG:
                    if DirectoryListing.isImage(name) { entries.append((name, false, name)) }
                case S_IFLNK:
                    var target = stat()
                    if stat(full, &target) == 0, (target.st_mode & S_IFMT) == S_IFREG, DirectoryListing.isImage(name) {
                        entries.append((name, false, name))
                    }
                default:
                    break
                }
            }
            // Largest first, so popLast() yields in ascending order.
            entries.sort { ItemOrder.precedes($1.key, $0.key) }
            stack.append((prefix, entries.map { ($0.name, $0.isDirectory) }))
            return nil
        }
    }

    static func isImage(_ name: String) -> Bool {
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return false }
        return imageExtensions.contains(name[name.index(after: dot)...].lowercased())
    }
}

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The one naming rule for the files fssam writes before renaming them into place (atomic
/// writes, sort spills, merged masks): hidden, beside their target, owned by one process. A
/// process killed mid-write leaves such a file; the next process that holds the output folder's
/// lock (`OutputFolder`) knows every one it finds is stale and removes it.
enum TemporaryFile {
    static let prefix = ".fssam-tmp-"

    /// A fresh temporary path in `directory`, for a file that will become `name`.
    static func path(in directory: String, for name: String) -> String {
        directory + "/" + prefix + "\(getpid())-\(UInt64.random(in: 0...UInt64.max))-" + name
    }

    /// Whether `name` (a file name, no folder) is one of ours: today's prefix, or what earlier
    /// versions wrote (`.NAME.tmp-PID-N`, `.fssam-spill-PID-N.run`, `.merge-PID-N.tmp`).
    static func isTemporary(_ name: String) -> Bool {
        guard name.hasPrefix(".") else { return false }
        if name.hasPrefix(prefix) || name.hasPrefix(".fssam-spill-") || name.hasPrefix(".merge-") { return true }
        guard let marker = name.range(of: ".tmp-", options: .backwards) else { return false }
        let tail = name[marker.upperBound...].split(separator: "-", omittingEmptySubsequences: false)
        return tail.count == 2 && tail.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isNumber) }
    }
}

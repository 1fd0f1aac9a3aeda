import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Lines keyed by item id, appended in any order and read back in the canonical order (item id
/// bytes, then line bytes) with bounded memory: an external merge sort. Up to `memoryLimit` bytes
/// are held; beyond that the buffer is sorted and written to a temporary run file, and reading
/// merges the runs. This is what lets `fssam run` write sorted result files for 10^7 items
/// without holding them, whatever order the items (a manifest's, a resumed run's) came in.
final class SortedSpill {
    private let directory: String
    private let memoryLimit: Int
    private var pending: [(key: [UInt8], line: [UInt8])] = []
    private var pendingBytes = 0
    private var runs: [String] = []
    private(set) var count = 0

    init(directory: String = NSTemporaryDirectory(), memoryLimit: Int = 32 << 20) {
        self.directory = directory
        self.memoryLimit = memoryLimit
    }

    deinit { for run in runs { unlink(run) } }

    func append(key: String, line: String) throws {
        let entry = (key: Array(key.utf8), line: Array(line.utf8))
        pending.append(entry)
        pendingBytes += entry.key.count + entry.line.count + 48
        count += 1
        if pendingBytes >= memoryLimit { try spill() }
    }

    static func precedes(_ a: (key: [UInt8], line: [UInt8]), _ b: (key: [UInt8], line: [UInt8])) -> Bool {
        if a.key != b.key { return a.key.lexicographicallyPrecedes(b.key) }
        return a.line.lexicographicallyPrecedes(b.line)
    }

    private func spill() throws {
        pending.sort(by: Self.precedes)
        let path = TemporaryFile.path(in: directory, for: "sort.run")
        guard let file = fopen(path, "wb") else { throw PipelineError(path, "cannot create a sort run: \(String(cString: strerror(errno)))") }
        runs.append(path)
        defer { fclose(file) }
        for entry in pending {
            var header = [UInt32(entry.key.count).littleEndian, UInt32(entry.line.count).littleEndian]
            let ok = fwrite(&header, 4, 2, file) == 2
                && (entry.key.isEmpty || fwrite(entry.key, 1, entry.key.count, file) == entry.key.count)
                && (entry.line.isEmpty || fwrite(entry.line, 1, entry.line.count, file) == entry.line.count)
            guard ok else { throw PipelineError(path, "cannot write a sort run: \(String(cString: strerror(errno)))") }
        }
        pending.removeAll(keepingCapacity: false)
        pendingBytes = 0
    }

    /// Calls `body` with every line in canonical order. Call once, after the last append.
    func forEachSorted(_ body: ([UInt8]) throws -> Void) throws {
        pending.sort(by: Self.precedes)
        if runs.isEmpty {
            for entry in pending { try body(entry.line) }
            return
        }
        var readers = try runs.map { try RunReader(path: $0) }
        var heads: [(key: [UInt8], line: [UInt8])?] = try readers.indices.map { try readers[$0].next() }
        var memoryIndex = 0
        while true {
            // k is small (one run per `memoryLimit` bytes), so a linear scan for the minimum is fine.
            var best: Int? = nil
            for i in heads.indices {
                guard let head = heads[i] else { continue }
                if best == nil || Self.precedes(head, heads[best!]!) { best = i }
            }
            let memoryHead = memoryIndex < pending.count ? pending[memoryIndex] : nil
            if let m = memoryHead, best == nil || Self.precedes(m, heads[best!]!) {
                try body(m.line)
                memoryIndex += 1
            } else if let b = best {
                try body(heads[b]!.line)
                heads[b] = try readers[b].next()
            } else {
                return
            }
        }
    }

    private struct RunReader {
        let path: String
        let file: UnsafeMutablePointer<FILE>

        init(path: String) throws {
            self.path = path
            guard let f = fopen(path, "rb") else { throw PipelineError(path, "cannot reopen a sort run") }
            file = f
        }

        mutating func next() throws -> (key: [UInt8], line: [UInt8])? {
            var header = [UInt32](repeating: 0, count: 2)
            let n = fread(&header, 4, 2, file)
            if n == 0 { fclose(file); return nil }
            guard n == 2 else { throw PipelineError(path, "sort run truncated") }
            let key = try read(Int(UInt32(littleEndian: header[0])))
            let line = try read(Int(UInt32(littleEndian: header[1])))
            return (key, line)
        }

        private func read(_ count: Int) throws -> [UInt8] {
            guard count > 0 else { return [] }
            var bytes = [UInt8](repeating: 0, count: count)
            guard fread(&bytes, 1, count, file) == count else { throw PipelineError(path, "sort run truncated") }
            return bytes
        }
    }
}

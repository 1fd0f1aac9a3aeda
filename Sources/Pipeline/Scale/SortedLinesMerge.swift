/// A streaming k-way merge of files whose lines are already sorted by item id (each shard's
/// `results.jsonl`, `errors.jsonl`, `predictions.json`): memory is one line per shard, however
/// many records there are. Ties are broken by the line's bytes, exactly as the writers sort, so
/// the merge of the shards' files is the file an unsharded run writes.
struct SortedLinesMerge {
    /// How a line's sort key is found: the value of the JSON object's first field (`"id"` in the
    /// result lines, `"image_id"` in predictions), which the canonical writers always put first.
    let keyField: String
    /// `predictions.json` is a JSON array with one entry per line: `[`, `]` and the commas between
    /// entries are framing, not records.
    let isJSONArray: Bool
    /// Whether a key may appear in one shard only. True for items (results, predictions); false for
    /// `errors.jsonl`, where a manifest line without an id is reported under the manifest's path,
    /// and such lines are spread over the shards by line.
    let keysBelongToOneShard: Bool

    final class Source {
        let path: String
        let shard: String
        let reader: LineReader
        var current: (key: [UInt8], line: [UInt8])?

        init(path: String, shard: String) throws {
            self.path = path
            self.shard = shard
            reader = try LineReader(path: path)
        }
    }

    /// Merges `sources` (path, shard name) into `output`; returns the number of records.
    func merge(_ sources: [(path: String, shard: String)], into output: AtomicFileWriter) throws -> Int {
        let opened = try sources.map { try Source(path: $0.path, shard: $0.shard) }
        var heap = MinHeap<Int> { a, b in Self.precedes(opened[a], opened[b], a, b) }
        for (i, source) in opened.enumerated() where try advance(source) { heap.push(i) }
        var written = 0
        var last: (key: [UInt8], source: Int)?
        while let i = heap.pop() {
            let source = opened[i]
            let (key, line) = source.current!
            if keysBelongToOneShard, let last, last.source != i, last.key == key {
                throw PipelineError(source.path, "item \(String(decoding: key, as: UTF8.self)) is also in shard "
                                    + "\(opened[last.source].shard): an item belongs to exactly one shard — mixed splits?")
            }
            if isJSONArray { try output.write(written == 0 ? Array("[\n".utf8) : Array(",\n".utf8)) }
            try output.write(line)
            if !isJSONArray { try output.write(CollectionOfOne(10)) }
            written += 1
            last = (key, i)
            if try advance(source) { heap.push(i) }
        }
        if isJSONArray { try output.write(Array((written == 0 ? "[]\n" : "\n]\n").utf8)) }
        return written
    }

    static func precedes(_ a: Source, _ b: Source, _ ia: Int, _ ib: Int) -> Bool {
        let (x, y) = (a.current!, b.current!)
        if x.key != y.key { return x.key.lexicographicallyPrecedes(y.key) }
        if x.line != y.line { return x.line.lexicographicallyPrecedes(y.line) }
        return ia < ib
    }

    /// Reads the source's next record; false at its end. Checks the file is sorted: a merge of
    /// unsorted inputs would silently not be the canonical file.
    func advance(_ source: Source) throws -> Bool {
        while let next = source.reader.next() {
            let where_ = "\(source.path):\(source.reader.lineNumber)"
            guard case .text(var line) = next else { throw PipelineError(where_, "line longer than \(source.reader.maxLineBytes) bytes") }
            if isJSONArray {
                if line == Array("[".utf8) || line == Array("]".utf8) || line == Array("[]".utf8) { continue }
                if line.last == UInt8(ascii: ",") { line.removeLast() }
            }
            if line.isEmpty { continue }
            let key = try Self.key(of: line, field: keyField, at: where_)
            if let previous = source.current,
               Self.precedes(key, line, previous.key, previous.line) {
                throw PipelineError(where_, "out of order (not sorted by \(keyField)): was this file written by fssam run?")
            }
            source.current = (key, line)
            return true
        }
        source.current = nil
        return false
    }

    static func precedes(_ k1: [UInt8], _ l1: [UInt8], _ k2: [UInt8], _ l2: [UInt8]) -> Bool {
        k1 != k2 ? k1.lexicographicallyPrecedes(k2) : l1.lexicographicallyPrecedes(l2)
    }

    /// The UTF-8 bytes of the string value of `field`, which must be the object's first field.
    static func key(of line: [UInt8], field: String, at location: String) throws -> [UInt8] {
        let prefix = Array(("{" + CanonicalJSON.string(field) + ":").utf8)
        guard line.starts(with: prefix) else {
            throw PipelineError(location, "expected a JSON object starting with \"\(field)\"")
        }
        guard let value = JSONStringLiteral.decode(line, from: prefix.count) else {
            throw PipelineError(location, "\"\(field)\" is not a JSON string (merge orders records by the item id)")
        }
        return value
    }
}

/// Decodes a JSON string literal in place, to UTF-8 bytes.
enum JSONStringLiteral {
    static func decode(_ bytes: [UInt8], from start: Int) -> [UInt8]? {
        guard start < bytes.count, bytes[start] == UInt8(ascii: "\"") else { return nil }
        var out: [UInt8] = []
        var i = start + 1
        var pendingHigh: UInt32?
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") { return pendingHigh == nil ? out : nil }
            if b != UInt8(ascii: "\\") {
                guard pendingHigh == nil else { return nil }
                out.append(b); i += 1; continue
            }
            guard i + 1 < bytes.count else { return nil }
            let e = bytes[i + 1]
            i += 2
            var scalar: UInt32
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalar = UInt32(e)
            case UInt8(ascii: "n"): scalar = 10
            case UInt8(ascii: "r"): scalar = 13
            case UInt8(ascii: "t"): scalar = 9
            case UInt8(ascii: "b"): scalar = 8
            case UInt8(ascii: "f"): scalar = 12
            case UInt8(ascii: "u"):
                guard i + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[i..<i + 4], as: UTF8.self), radix: 16) else { return nil }
                i += 4
                scalar = v
            default: return nil
            }
            if let high = pendingHigh {
                guard (0xDC00...0xDFFF).contains(scalar) else { return nil }
                scalar = 0x10000 + ((high - 0xD800) << 10) + (scalar - 0xDC00)
                pendingHigh = nil
            } else if (0xD800...0xDBFF).contains(scalar) {
                pendingHigh = scalar
                continue
            }
            guard let unicode = Unicode.Scalar(scalar) else { return nil }
            out += Array(String(unicode).utf8)
        }
        return nil
    }
}

/// A binary min-heap ordered by a caller's comparison (the shard sources by their current line).
struct MinHeap<Element> {
    private var items: [Element] = []
    let less: (Element, Element) -> Bool

    init(less: @escaping (Element, Element) -> Bool) { self.less = less }

    mutating func push(_ x: Element) {
        items.append(x)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard less(items[i], items[parent]) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> Element? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < items.count && less(items[l], items[m]) { m = l }
            if r < items.count && less(items[r], items[m]) { m = r }
            if m == i { break }
            items.swapAt(i, m)
            i = m
        }
        return top
    }
}

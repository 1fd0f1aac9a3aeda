import StageCache

/// One line of `results.jsonl`: what happened to an item that produced a mask.
public struct ResultsLine: Sendable, Equatable {
    public let id: String
    /// How the mask came about, e.g. "computed" or "cached".
    public let status: String
    /// Hex SHA-256 of the mask PNG bytes: lets a re-run (or a different shard) prove it wrote the same mask.
    public let maskSHA256: String
    public let area: Int
    /// Wall time spent on the item. A duration, not a timestamp; it is the one field that differs between runs.
    public let seconds: Double
    /// Per stage, how many of its outputs for this item came from the cache.
    public let cacheHits: [String: Int]

    public init(id: String, status: String, maskSHA256: String, area: Int, seconds: Double, cacheHits: [String: Int]) {
        self.id = id
        self.status = status
        self.maskSHA256 = maskSHA256
        self.area = area
        self.seconds = seconds
        self.cacheHits = cacheHits
    }

    /// Builds the line from the PNG that was written, so the digest is of exactly those bytes.
    public init(id: String, status: String, maskPNG: [UInt8], area: Int, seconds: Double, cacheHits: [String: Int]) {
        self.init(id: id, status: status, maskSHA256: Digest.sha256(maskPNG).hex, area: area, seconds: seconds,
                  cacheHits: cacheHits)
    }

    public func json() throws -> String {
        let hits = cacheHits.sorted { ItemOrder.precedes($0.key, $1.key) }.map { ($0.key, String($0.value)) }
        return CanonicalJSON.object([
            ("id", CanonicalJSON.string(id)),
            ("status", CanonicalJSON.string(status)),
            ("mask_sha256", CanonicalJSON.string(maskSHA256)),
            ("area", String(area)),
            ("seconds", try CanonicalJSON.number(seconds, field: "\(id): seconds")),
            ("cache_hits", CanonicalJSON.object(hits)),
        ])
    }
}

/// One line of `errors.jsonl`: an item that failed, which file, in which stage, and why.
public struct ErrorLine: Sendable, Equatable {
    public let id: String
    public let path: String
    public let stage: String
    public let reason: String

    public init(id: String, path: String, stage: String, reason: String) {
        self.id = id
        self.path = path
        self.stage = stage
        self.reason = reason
    }

    public func json() throws -> String {
        CanonicalJSON.object([
            ("id", CanonicalJSON.string(id)),
            ("path", CanonicalJSON.string(path)),
            ("stage", CanonicalJSON.string(stage)),
            ("reason", CanonicalJSON.string(reason)),
        ])
    }
}

/// A line of a JSON-lines result file, with the item id it is sorted by.
public protocol ItemLine: Sendable {
    var id: String { get }
    func json() throws -> String
}
extension ResultsLine: ItemLine {}
extension ErrorLine: ItemLine {}

/// Writes `results.jsonl` / `errors.jsonl` in canonical order: by item id, then by the line's own
/// bytes (an item may fail twice, e.g. listed twice), one object per line, atomically.
public enum JSONLinesWriter {
    public static func render(_ lines: [some ItemLine]) throws -> [UInt8] {
        let rendered = try lines.map { ($0.id, try $0.json()) }.sorted { a, b in
            if !a.0.utf8.elementsEqual(b.0.utf8) { return ItemOrder.precedes(a.0, b.0) }
            return ItemOrder.precedes(a.1, b.1)
        }
        var out: [UInt8] = []
        for (_, line) in rendered { out += Array(line.utf8); out.append(10) }
        return out
    }

    public static func write(_ lines: [some ItemLine], to path: String) throws {
        try AtomicFile.write(try render(lines), to: path)
    }
}

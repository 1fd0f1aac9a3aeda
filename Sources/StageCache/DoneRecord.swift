/// "Item `item` of run `run` is finished": written in the same transaction as the item's outputs.
///
/// Key in the `done` sub-database: run UTF-8, one 0x00 byte, item UTF-8 (so a run's items are one
/// contiguous key range). Value: magic "FSDN", version u16 (= 2), status u8, message string,
/// output count u32, (name string, blob digest)…, file count u32, (relative path string,
/// SHA-256)…, completed-at f64. Version 1 had no file section (and is still read).
public struct DoneRecord: Sendable, Equatable {
    public enum Status: UInt8, Sendable { case succeeded = 0, failed = 1 }
    static let magic: [UInt8] = Array("FSDN".utf8)

    public var run: String
    public var item: String
    public var status: Status
    /// Per-item error text for failed items ("one bad item never stops a run").
    public var message: String
    /// Blobs of the `blobs` sub-database this item's result rests on: verified by `cache verify`,
    /// kept alive by garbage collection while the done-record stands.
    public var outputs: [String: Digest]
    /// Files the item delivered, by path relative to the output folder → SHA-256 of their bytes.
    /// An item is done *for an output folder* only when these files are there with these digests
    /// (a second `--out`, a deleted mask); they are not blobs and are never looked up in the cache.
    public var files: [String: Digest]
    public var completedAt: Double

    public init(run: String, item: String, status: Status = .succeeded, message: String = "",
                outputs: [String: Digest], files: [String: Digest] = [:], completedAt: Double = Clock.now()) {
        self.run = run; self.item = item; self.status = status; self.message = message
        self.outputs = outputs; self.files = files; self.completedAt = completedAt
    }

    static func key(run: String, item: String) throws -> [UInt8] {
        guard !run.utf8.contains(0), !item.utf8.contains(0) else {
            throw CacheError.invalidArgument("run id and item id must not contain NUL (run \"\(run)\", item \"\(item)\")")
        }
        return Array(run.utf8) + [0] + Array(item.utf8)
    }
    static func runPrefix(_ run: String) -> [UInt8] { Array(run.utf8) + [0] }

    func encoded() -> [UInt8] {
        var w = ByteWriter()
        w.raw(Self.magic); w.u16(2); w.u8(status.rawValue); w.string(message)
        for map in [outputs, files] {
            w.u32(UInt32(map.count))
            for name in KeyEncoding.sortedByUTF8(map.keys) { w.string(name); w.raw(map[name]!.bytes) }
        }
        w.f64(completedAt)
        return w.bytes
    }

    init(key: [UInt8], value: [UInt8]) throws {
        guard let sep = key.firstIndex(of: 0) else { throw MalformedDataError(what: "done record key", reason: "no run/item separator") }
        run = String(decoding: key[..<sep], as: UTF8.self)
        item = String(decoding: key[(sep + 1)...], as: UTF8.self)
        var r = ByteReader(value, what: "done record \(run)/\(item)")
        guard Array(try r.take(4)) == Self.magic else { throw r.fail("bad magic") }
        let version = try r.u16()
        guard version == 1 || version == 2 else { throw r.fail("done-record version \(version), this build reads 1 and 2") }
        guard let s = Status(rawValue: try r.u8()) else { throw r.fail("unknown status") }
        status = s; message = try r.string()
        func digests() throws -> [String: Digest] {
            let n = Int(try r.u32())
            guard n <= r.remaining else { throw r.fail("\(n) entries declared in \(r.remaining) bytes") }
            var map: [String: Digest] = [:]
            for _ in 0..<n { let name = try r.string(); map[name] = try r.digest() }
            return map
        }
        if version == 1 {
            // Version 1 listed file digests (and a combined digest) as outputs, though they were never
            // blobs. Read as files: its paths match no delivered file, so the item is re-exported once.
            outputs = [:]
            files = try digests()
        } else {
            outputs = try digests()
            files = try digests()
        }
        completedAt = try r.f64()
        guard r.isAtEnd else { throw r.fail("\(r.remaining) trailing bytes") }
    }
}

/// Wall-clock seconds since 1970 (records' created / last-used times).
public enum Clock {
    public static func now() -> Double {
        var ts = timespec(); clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

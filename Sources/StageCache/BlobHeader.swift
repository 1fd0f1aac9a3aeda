/// The self-describing header at the start of every blob.
///
///   magic "FSBL" | codec version u8 (=1) | kind u8 | dtype u8 | encoding u8 (=1: chunked)
///   | rank u8 | 3 reserved zero bytes | shape: rank × u64 | chunk count u32
///   | chunk table: chunk count × (stored length u32, flags u8: 0 = stored as is, 1 = zstd frame)
///   | payload: the chunks back to back
///
/// Chunk i holds the elements [i·E, min((i+1)·E, count)) where E = 256 KiB / decoded element width,
/// i.e. every chunk is 256 KiB of canonical content (the last may be shorter).
public struct BlobHeader: Sendable, Equatable {
    public static let magic: [UInt8] = Array("FSBL".utf8)
    public static let codecVersion: UInt8 = 1
    static let chunkedEncoding: UInt8 = 1
    /// Canonical content bytes per chunk: small enough for L2, enough chunks for 2 threads.
    public static let chunkContentBytes = 262_144
    static let maxRank = 16
    /// Refuse absurd declared sizes before allocating (a corrupt header must not exhaust memory).
    static let maxDecodedBytes = 1 << 33

    public struct Chunk: Sendable, Equatable {
        public var storedLength: Int
        public var compressed: Bool
    }

    public var kind: BlobKind
    public var shape: [Int]
    public var chunks: [Chunk]
    /// Byte offset of the payload from the start of the blob.
    public var payloadOffset: Int

    public var dtype: CacheDType { kind.decodedDType }
    public var elementCount: Int { shape.reduce(1, *) }
    public var elementsPerChunk: Int { Self.chunkContentBytes / dtype.byteWidth }
    public var storedPayloadBytes: Int { chunks.reduce(0) { $0 + $1.storedLength } }

    static func chunkCount(elements: Int, dtype: CacheDType) -> Int {
        let epc = chunkContentBytes / dtype.byteWidth
        return (elements + epc - 1) / epc
    }

    func encoded() -> [UInt8] {
        var w = ByteWriter()
        w.raw(Self.magic); w.u8(Self.codecVersion); w.u8(kind.rawValue); w.u8(dtype.rawValue)
        w.u8(Self.chunkedEncoding); w.u8(UInt8(shape.count)); w.raw([0, 0, 0])
        for d in shape { w.u64(UInt64(d)) }
        w.u32(UInt32(chunks.count))
        for c in chunks { w.u32(UInt32(c.storedLength)); w.u8(c.compressed ? 1 : 0) }
        return w.bytes
    }

    /// Parses and checks a header against the buffer it came from: every declared size is compared
    /// with what is actually there.
    public init(parsing blob: UnsafeRawBufferPointer) throws {
        func fail(_ reason: String) -> CacheError { .corruptBlob(blob: nil, stage: nil, reason: reason) }
        var offset = 0
        func need(_ n: Int) throws {
            guard blob.count - offset >= n else { throw fail("truncated header: needs \(n) bytes at offset \(offset), blob has \(blob.count)") }
        }
        func u8() throws -> UInt8 { try need(1); defer { offset += 1 }; return blob[offset] }
        func u32() throws -> UInt32 { try need(4); defer { offset += 4 }; return UInt32(littleEndian: blob.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
        func u64() throws -> UInt64 { try need(8); defer { offset += 8 }; return UInt64(littleEndian: blob.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }

        try need(4)
        guard Array(blob[0..<4]) == Self.magic else { throw fail("bad magic \(Array(blob[0..<4])) (not a fssam blob)") }
        offset = 4
        let version = try u8()
        guard version == Self.codecVersion else { throw fail("codec version \(version), this build reads \(Self.codecVersion)") }
        let rawKind = try u8()
        guard let kind = BlobKind(rawValue: rawKind) else { throw fail("unknown blob kind \(rawKind)") }
        let rawDType = try u8()
        guard rawDType == kind.decodedDType.rawValue else { throw fail("dtype \(rawDType) does not match kind \(kind)") }
        let encoding = try u8()
        guard encoding == Self.chunkedEncoding else { throw fail("unknown encoding \(encoding)") }
        let rank = Int(try u8())
        guard rank <= Self.maxRank else { throw fail("rank \(rank) exceeds \(Self.maxRank)") }
        try need(3); offset += 3
        var shape: [Int] = []
        var count = 1
        for _ in 0..<rank {
            let d = try u64()
            guard d <= UInt64(Self.maxDecodedBytes) else { throw fail("dimension \(d) is absurd") }
            shape.append(Int(d))
            let (p, overflow) = count.multipliedReportingOverflow(by: Int(d))
            guard !overflow, p * kind.decodedDType.byteWidth <= Self.maxDecodedBytes else {
                throw fail("shape \(shape)… declares more than \(Self.maxDecodedBytes) bytes")
            }
            count = p
        }
        let declaredChunks = Int(try u32())
        let expectedChunks = Self.chunkCount(elements: count, dtype: kind.decodedDType)
        guard declaredChunks == expectedChunks else {
            throw fail("\(declaredChunks) chunks declared, shape \(shape) needs \(expectedChunks)")
        }
        try need(declaredChunks * 5)
        var chunks: [Chunk] = []; chunks.reserveCapacity(declaredChunks)
        var payload = 0
        for _ in 0..<declaredChunks {
            let len = Int(try u32()); let flags = try u8()
            guard flags <= 1 else { throw fail("unknown chunk flags \(flags)") }
            chunks.append(Chunk(storedLength: len, compressed: flags == 1)); payload += len
        }
        guard payload == blob.count - offset else {
            throw fail("chunk table declares \(payload) payload bytes, blob holds \(blob.count - offset)")
        }
        self.kind = kind; self.shape = shape; self.chunks = chunks; self.payloadOffset = offset
        let epc = elementsPerChunk
        for (i, c) in chunks.enumerated() where !c.compressed {
            let n = min(epc, count - i * epc)
            guard c.storedLength == kind.storedBytes(elements: n) else {
                throw fail("uncompressed chunk \(i) holds \(c.storedLength) bytes, \(n) elements need \(kind.storedBytes(elements: n))")
            }
        }
    }

    init(kind: BlobKind, shape: [Int], chunks: [Chunk]) {
        self.kind = kind; self.shape = shape; self.chunks = chunks
        self.payloadOffset = 12 + 8 * shape.count + 4 + 5 * chunks.count
    }
}

/// The identity of a stage output: SHA-256 of its canonical decoded content, so it depends neither on
/// the zstd version or level nor on how chunks happened to be stored.
///
///   digest = SHA-256( "FSSAM-BLOB-DIGEST-1"
///                     || kind u8 || dtype u8 || rank u8 || shape as rank × u64 LE
///                     || SHA-256(chunk 0) || SHA-256(chunk 1) || … )
///
/// where chunk i is the canonical little-endian content (float32 LE; one byte 0/1 per bool; the
/// bytes themselves for uint8) of elements [i·E, (i+1)·E), E = 256 KiB / element width. Chunk
/// digests let two threads hash one tensor in parallel; an empty tensor has no chunk digests.
public enum BlobDigest {
    static let domain: [UInt8] = Array("FSSAM-BLOB-DIGEST-1".utf8)

    static func combine(kind: BlobKind, shape: [Int], chunkDigests: [Digest]) -> Digest {
        var w = ByteWriter()
        w.raw(domain); w.u8(kind.rawValue); w.u8(kind.decodedDType.rawValue); w.u8(UInt8(shape.count))
        for d in shape { w.u64(UInt64(d)) }
        for c in chunkDigests { w.raw(c.bytes) }
        return Digest.sha256(w.bytes)
    }

    /// Digest of a tensor as `kind` would store it (for float16 the rounded values are hashed).
    public static func of(_ tensor: CacheTensor, kind: BlobKind? = nil) -> Digest {
        let k = kind ?? BlobKind.lossless(for: tensor.dtype)
        let t = k == .float16Lossy ? tensor.roundedToFloat16() : tensor
        return t.withContentBytes { content in
            let chunk = BlobHeader.chunkContentBytes
            let n = (content.count + chunk - 1) / chunk
            let digests = (0..<n).map { i in
                Digest.sha256(UnsafeRawBufferPointer(rebasing: content[(i * chunk)..<min(content.count, (i + 1) * chunk)]))
            }
            return combine(kind: k, shape: t.shape, chunkDigests: digests)
        }
    }
}

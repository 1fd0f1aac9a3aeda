/// How a blob stores its tensor. The kind is part of the blob digest.
public enum BlobKind: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// float32, byte-shuffled (4 planes) then zstd. The default for float tensors: bit-exact.
    case float32Lossless = 1
    /// float32 narrowed to float16 (round-to-nearest-even, ±Inf/NaN kept), shuffled, zstd;
    /// decodes back to float32. Opt-in only: it changes values.
    case float16Lossy = 2
    /// bool mask packed 8 per byte (LSB first), then zstd.
    case bitMask = 3
    /// uint8 bytes, zstd per chunk only where it makes the chunk smaller.
    case rawBytes = 4

    public var decodedDType: CacheDType {
        switch self { case .float32Lossless, .float16Lossy: .float32; case .bitMask: .bool; case .rawBytes: .uint8 }
    }

    /// Default kind for a dtype (lossless always).
    public static func lossless(for dtype: CacheDType) -> BlobKind {
        switch dtype { case .float32: .float32Lossless; case .bool: .bitMask; case .uint8: .rawBytes }
    }

    /// Bytes a chunk of `n` elements occupies before compression.
    func storedBytes(elements n: Int) -> Int {
        switch self {
        case .float32Lossless: 4 * n
        case .float16Lossy: 2 * n
        case .bitMask: (n + 7) / 8
        case .rawBytes: n
        }
    }

    public var description: String {
        switch self {
        case .float32Lossless: "float32-shuffle-zstd"
        case .float16Lossy: "float16-lossy"
        case .bitMask: "bitmask"
        case .rawBytes: "bytes"
        }
    }
}

import Foundation
import StageCache
import Tensor

/// What a query's decode produced, remembered by the file's content: the digest of its model input
/// and its size, under the key `decode#digest` (version, `model_size`, the file's SHA-256 and the
/// image library's version). With it, an item whose encoder stages are all cached — a re-tune, a
/// re-export — is never decoded or resized: the model input is made only if a stage must compute
/// with it (and is then checked against the digest). Committed with the item's done-record, like
/// its other final outputs.
struct DecodeMemo {
    let key: StageKey

    /// `parameters`: the decode stage's (model_size enters the key); decode reads no weights.
    init(fileDigest: Digest, parameters: [String: ParameterValue], weights: StageWeightDigests) {
        let key = FSSAMStage.decode.key(parameters: parameters,
                                        inputs: ["file": fileDigest, "decoder": Self.decoderDigest], weights: weights)
        self.key = StageResolver.memoKey(key)
    }

    /// libvips decodes the files; another version may decode a file to other pixels.
    static let decoderDigest = Digest.sha256(Array("libvips \(Vips.versionString)".utf8))

    struct Entry: Equatable {
        let modelInputDigest: Digest
        let width: Int
        let height: Int
    }

    func outputs(_ entry: Entry) -> [String: CacheTensor] {
        ["digest": CacheTensor(bytes: entry.modelInputDigest.bytes),
         "size": CacheTensor(bytes: [entry.width, entry.height].flatMap { Self.littleEndian(UInt32(clamping: $0)) })]
    }

    /// The remembered entry, or nil (absent, or not in this format: then the item is decoded).
    func lookup(in store: CacheStore) -> Entry? {
        guard let hit = store.lookup(key), let digest = hit.outputs["digest"]?.bytes, digest.count == Digest.byteCount,
              let size = hit.outputs["size"]?.bytes, size.count == 8 else { return nil }
        let (width, height) = (Self.uint32(size[0..<4]), Self.uint32(size[4..<8]))
        guard width > 0, height > 0 else { return nil }
        return Entry(modelInputDigest: Digest(bytes: digest), width: width, height: height)
    }

    private static func littleEndian(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
    private static func uint32(_ b: ArraySlice<UInt8>) -> Int { b.reversed().reduce(0) { $0 << 8 | Int($1) } }
}

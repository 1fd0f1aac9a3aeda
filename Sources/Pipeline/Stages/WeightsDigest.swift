import Checkpoint
import Dispatch
import Foundation
import StageCache
import Tensor

/// The identity of a set of named weights, for the `weights` field of a stage key:
///
///   digest = SHA-256( "FSSAM-WEIGHTS-DIGEST-1" || count u64 LE
///                     || for each tensor, names sorted by UTF-8 bytes:
///                        name length u32 LE || name UTF-8 || rank u8 || shape as rank × u64 LE
///                        || SHA-256(values as float32 little-endian) )
///
/// Names and shapes are hashed, not only values, so renaming or reshaping a tensor changes the
/// digest. Each tensor's values are hashed once on their own (two levels, as `BlobDigest` does with
/// chunks) so tensors hash in parallel and a tensor two stages share is hashed once per load.
/// Synthetic weights go through the same function: a real checkpoint and its `synthetic[:SEED]`
/// stand-in differ in values, so they never share keys.
public enum WeightsDigest {
    static let domain: [UInt8] = Array("FSSAM-WEIGHTS-DIGEST-1".utf8)

    /// SHA-256 of a tensor's values as float32 little-endian bytes (NaN payloads and -0 kept).
    public static func values(of tensor: Tensor) -> Digest {
        #if _endian(big)
        let bytes = tensor.storage.map { $0.bitPattern.littleEndian }
        return bytes.withUnsafeBytes { Digest.sha256($0) }
        #else
        return tensor.storage.withUnsafeBytes { Digest.sha256($0) }
        #endif
    }

    /// The digest of `tensors` (name → tensor); insertion order does not matter.
    public static func of(_ tensors: [String: Tensor]) -> Digest {
        let names = Array(tensors.keys)
        let digests = valueDigests(names.map { tensors[$0]! })
        return combine(Dictionary(uniqueKeysWithValues: names.indices.map {
            (names[$0], (shape: tensors[names[$0]]!.shape, values: digests[$0]))
        }))
    }

    /// The outer hash over already hashed tensor values.
    static func combine(_ entries: [String: (shape: [Int], values: Digest)]) -> Digest {
        var bytes = domain
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
        u64(UInt64(entries.count))
        for name in entries.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            let entry = entries[name]!
            let utf8 = Array(name.utf8)
            withUnsafeBytes(of: UInt32(utf8.count).littleEndian) { bytes.append(contentsOf: $0) }
            bytes.append(contentsOf: utf8)
            bytes.append(UInt8(entry.shape.count))
            for d in entry.shape { u64(UInt64(d)) }
            bytes.append(contentsOf: entry.values.bytes)
        }
        return Digest.sha256(bytes)
    }

    /// Value digests of `tensors`, in order, hashed on all cores (SHA-NI runs ≈ 2 GB/s per core).
    static func valueDigests(_ tensors: [Tensor]) -> [Digest] {
        let slots = DigestSlots(count: tensors.count)
        DispatchQueue.concurrentPerform(iterations: tensors.count) { i in
            slots.set(i, values(of: tensors[i]))
        }
        return slots.values
    }
}

/// Result slots for `concurrentPerform` workers, each writing a distinct index.
private final class DigestSlots: @unchecked Sendable {
    // Safety: every access to `slots` holds `lock`.
    private var slots: [Digest?]
    private let lock = NSLock()

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func set(_ i: Int, _ digest: Digest) { lock.withLock { slots[i] = digest } }

    var values: [Digest] { lock.withLock { slots.map { $0! } } }
}

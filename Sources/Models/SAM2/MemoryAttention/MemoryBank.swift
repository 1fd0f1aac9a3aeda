import Tensor

/// The memory that FSSAM's `propagate_in_video_batch_final` hands to memory attention
/// (spec §4.2), for one query:
///
/// | tokens | content | position |
/// |---|---|---|
/// | `[i·HW, (i+1)·HW)`, i < k | support i's memory | sine + `maskmem_tpos_enc[6]` |
/// | `[k·HW, (k+1)·HW)` | the refined query Disc memory | sine + `maskmem_tpos_enc[6]` |
/// | last `(k+1)·C/mem_dim` | the k + 1 object pointers, each split in `C/mem_dim` chunks | 0 |
///
/// Token-major `[Nm, mem_dim]`, which for one query is SAM 2's seq-first `[Nm, 1, mem_dim]`.
public struct MemoryBank: Sendable {
    /// One encoded memory: features and sine position `[mem_dim, H, W]` (or `[1, mem_dim, H, W]`)
    /// and the object pointer `[C]` (or `[1, C]`).
    public struct Entry: Sendable {
        public var features: Tensor
        public var position: Tensor
        public var objectPointer: Tensor

        public init(features: Tensor, position: Tensor, objectPointer: Tensor) {
            self.features = features
            self.position = position
            self.objectPointer = objectPointer
        }
    }

    public let memory: Tensor
    public let memoryPos: Tensor
    /// Pointer tokens at the end of `memory`: excluded from RoPE (`num_k_exclude_rope`).
    public let numObjPtrTokens: Int
    public let supportCount: Int
    public let height: Int
    public let width: Int
    public var memoryDim: Int { memory.shape[1] }

    /// `supports` in model order (support 0 first), then the query's refined Disc memory, whose
    /// pointer is the one from the unrefined Disc prior. `temporalPosition` is
    /// `maskmem_tpos_enc[num_maskmem − 1]` (every memory has t_pos = 0), see `temporalPosition(_:)`.
    public init(supports: [Entry], query: Entry, temporalPosition: Tensor) throws {
        guard !supports.isEmpty else { throw ModelError("memory bank", "needs at least one support memory") }
        let entries = supports + [query]
        let first = try TokenLayout.tokens(fromMap: query.features, name: "query memory")
        let (hw, dim) = (first.height * first.width, first.tokens.shape[1])
        guard temporalPosition.count == dim else {
            throw ModelError("maskmem_tpos_enc", "row has \(temporalPosition.count) channels, memories \(dim)")
        }
        let pointerDim = query.objectPointer.count
        guard pointerDim % dim == 0 else {
            throw ModelError("object pointer", "width \(pointerDim) is not a multiple of the memory width \(dim)")
        }
        let pointerTokens = entries.count * (pointerDim / dim)
        let total = entries.count * hw + pointerTokens
        var memory = [Float](repeating: 0, count: total * dim)
        var position = [Float](repeating: 0, count: total * dim)
        for (i, entry) in entries.enumerated() {
            let name = i < supports.count ? "support \(i) memory" : "query memory"
            let feats = try TokenLayout.tokens(fromMap: entry.features, name: name)
            let pos = try TokenLayout.tokens(fromMap: entry.position, name: name + " position")
            guard feats.tokens.shape == [hw, dim], pos.tokens.shape == [hw, dim] else {
                throw ModelError(name, "features \(entry.features.shape) / position \(entry.position.shape) differ from the query's [\(dim), \(first.height), \(first.width)]")
            }
            guard entry.objectPointer.count == pointerDim else {
                throw ModelError(name, "object pointer has \(entry.objectPointer.count) values, expected \(pointerDim)")
            }
            let offset = i * hw * dim
            memory.replaceSubrange(offset..<(offset + hw * dim), with: feats.tokens.storage)
            for t in 0..<hw {
                for c in 0..<dim { position[offset + t * dim + c] = pos.tokens.storage[t * dim + c] + temporalPosition.storage[c] }
            }
            // A pointer's chunks are consecutive tokens (reshape(s+1, B, 4, 64) → flatten); their pos stays 0.
            let pointerOffset = (entries.count * hw + i * (pointerDim / dim)) * dim
            memory.replaceSubrange(pointerOffset..<(pointerOffset + pointerDim), with: entry.objectPointer.storage)
        }
        self.memory = Tensor(shape: [total, dim], storage: memory)
        self.memoryPos = Tensor(shape: [total, dim], storage: position)
        numObjPtrTokens = pointerTokens
        supportCount = supports.count
        height = first.height
        width = first.width
    }

    /// `maskmem_tpos_enc[num_maskmem − 1]`: the only row FSSAM reads (all memories at t_pos = 0).
    /// `w` is the SAM 2 root (`maskmem_tpos_enc` `[num_maskmem, 1, 1, mem_dim]`).
    public static func temporalPosition(_ w: ModuleWeights) throws -> Tensor {
        let table = try w("maskmem_tpos_enc")
        guard table.rank == 4, table.shape[0] >= 1, table.shape[1] == 1, table.shape[2] == 1 else {
            throw ModelError(w.prefix + "maskmem_tpos_enc", "expected [num_maskmem, 1, 1, mem_dim], got \(table.shape)")
        }
        let dim = table.shape[3], row = table.shape[0] - 1
        return Tensor(shape: [dim], storage: Array(table.storage[(row * dim)..<((row + 1) * dim)]))
    }

    /// The calibration mask of one support: its cleaned 0/1 mask (`[1, 1, S, S]`, 255 already
    /// background) by legacy nearest to the memory grid (FSSAM: `interp(s_mask[:, 0:1], (32, 32),
    /// mode='nearest')`, pixel 16·i at 512). IMR uses bilinear instead; this one stays binary.
    public static func calibrationMask(_ supportMask: Tensor, height: Int = 32, width: Int = 32) -> Tensor {
        Resampling.nearest(supportMask, height: height, width: width)
    }
}

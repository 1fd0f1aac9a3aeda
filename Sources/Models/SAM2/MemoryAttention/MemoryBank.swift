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
/// Held in two parts: `fixed` (support blocks and pointer tokens), which is known as soon as the
/// query's memories are encoded, and the refined query block, which IMR produces. Layer 0's
/// attention over the fixed part can therefore be computed once per query and reused by every
/// IMR setting (`MemoryAttention.prefix`). `memory` / `memoryPos` give SAM 2's token order.
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

    /// The support memories, in model order, then the object-pointer tokens of all k + 1 memories
    /// (supports', then the query's: the pointer of the unrefined Disc prior, which IMR never
    /// changes). Token-major `[k·HW + P, mem_dim]`; pointer tokens have position 0 and no RoPE.
    public struct Fixed: Sendable {
        public let memory: Tensor
        public let memoryPos: Tensor
        public let supportCount: Int
        /// Pointer tokens at the end (`num_k_exclude_rope`).
        public let numObjPtrTokens: Int
        public let height: Int
        public let width: Int
        public var memoryDim: Int { memory.shape[1] }
        /// The support blocks' tokens, which come first and are rotated by RoPE.
        public var spatialTokens: Int { supportCount * height * width }

        /// `temporalPosition` is `maskmem_tpos_enc[num_maskmem − 1]` (every memory has t_pos = 0),
        /// see `temporalPosition(_:)`.
        public init(supports: [Entry], queryObjectPointer: Tensor, temporalPosition: Tensor) throws {
            guard !supports.isEmpty else { throw ModelError("memory bank", "needs at least one support memory") }
            let first = try TokenLayout.tokens(fromMap: supports[0].features, name: "support 0 memory")
            let (hw, dim) = (first.height * first.width, first.tokens.shape[1])
            guard temporalPosition.count == dim else {
                throw ModelError("maskmem_tpos_enc", "row has \(temporalPosition.count) channels, memories \(dim)")
            }
            let pointers = supports.map(\.objectPointer) + [queryObjectPointer]
            let pointerDim = queryObjectPointer.count
            guard pointerDim % dim == 0 else {
                throw ModelError("object pointer", "width \(pointerDim) is not a multiple of the memory width \(dim)")
            }
            let spatial = supports.count * hw
            let total = spatial + pointers.count * (pointerDim / dim)
            var memory = [Float](repeating: 0, count: total * dim)
            var position = [Float](repeating: 0, count: total * dim)
            for (i, entry) in supports.enumerated() {
                let (feats, pos) = try MemoryBank.block(entry.features, entry.position, name: "support \(i) memory",
                                                        tokens: hw, dim: dim, shapeOf: first, temporalPosition: temporalPosition)
                let offset = i * hw * dim
                memory.replaceSubrange(offset..<(offset + hw * dim), with: feats)
                position.replaceSubrange(offset..<(offset + hw * dim), with: pos)
            }
            // A pointer's chunks are consecutive tokens (reshape(s+1, B, 4, 64) → flatten); their pos stays 0.
            for (i, pointer) in pointers.enumerated() {
                guard pointer.count == pointerDim else {
                    let name = i < supports.count ? "support \(i) memory" : "query memory"
                    throw ModelError(name, "object pointer has \(pointer.count) values, expected \(pointerDim)")
                }
                let offset = (spatial + i * (pointerDim / dim)) * dim
                memory.replaceSubrange(offset..<(offset + pointerDim), with: pointer.storage)
            }
            self.memory = Tensor(shape: [total, dim], storage: memory)
            self.memoryPos = Tensor(shape: [total, dim], storage: position)
            numObjPtrTokens = total - spatial
            supportCount = supports.count
            height = first.height
            width = first.width
        }
    }

    public let fixed: Fixed
    /// The refined query Disc memory, token-major `[HW, mem_dim]`.
    public let queryMemory: Tensor
    /// Its key position: sine + `maskmem_tpos_enc[6]`.
    public let queryMemoryPos: Tensor

    public var numObjPtrTokens: Int { fixed.numObjPtrTokens }
    public var supportCount: Int { fixed.supportCount }
    public var height: Int { fixed.height }
    public var width: Int { fixed.width }
    public var memoryDim: Int { fixed.memoryDim }

    /// `supports` in model order (support 0 first), then the query's refined Disc memory, whose
    /// pointer is the one from the unrefined Disc prior. `temporalPosition` is
    /// `maskmem_tpos_enc[num_maskmem − 1]` (every memory has t_pos = 0), see `temporalPosition(_:)`.
    public init(supports: [Entry], query: Entry, temporalPosition: Tensor) throws {
        let fixed = try Fixed(supports: supports, queryObjectPointer: query.objectPointer, temporalPosition: temporalPosition)
        try self.init(fixed: fixed, queryFeatures: query.features, queryPosition: query.position,
                      temporalPosition: temporalPosition)
    }

    /// The fixed part with the query's refined Disc memory `[mem_dim, H, W]` and its sine position.
    public init(fixed: Fixed, queryFeatures: Tensor, queryPosition: Tensor, temporalPosition: Tensor) throws {
        let first = try TokenLayout.tokens(fromMap: queryFeatures, name: "query memory")
        guard first.height == fixed.height, first.width == fixed.width, first.tokens.shape[1] == fixed.memoryDim,
              temporalPosition.count == fixed.memoryDim else {
            throw ModelError("query memory", "features \(queryFeatures.shape) differ from the supports' [\(fixed.memoryDim), \(fixed.height), \(fixed.width)]")
        }
        let (hw, dim) = (fixed.height * fixed.width, fixed.memoryDim)
        let (feats, pos) = try Self.block(queryFeatures, queryPosition, name: "query memory", tokens: hw, dim: dim, shapeOf: first,
                                          temporalPosition: temporalPosition)
        self.fixed = fixed
        queryMemory = Tensor(shape: [hw, dim], storage: feats)
        queryMemoryPos = Tensor(shape: [hw, dim], storage: pos)
    }

    /// One spatial memory and its key position (sine + `temporalPosition`) as `[HW · dim]` token-major
    /// values, checked against the first block.
    private static func block(_ features: Tensor, _ position: Tensor, name: String, tokens hw: Int, dim: Int,
                              shapeOf first: (tokens: Tensor, height: Int, width: Int),
                              temporalPosition: Tensor) throws -> (features: [Float], position: [Float]) {
        let feats = try TokenLayout.tokens(fromMap: features, name: name)
        let pos = try TokenLayout.tokens(fromMap: position, name: name + " position")
        guard feats.tokens.shape == [hw, dim], pos.tokens.shape == [hw, dim] else {
            throw ModelError(name, "features \(features.shape) / position \(position.shape) differ from [\(dim), \(first.height), \(first.width)]")
        }
        var keyPosition = pos.tokens.storage
        for t in 0..<hw { for c in 0..<dim { keyPosition[t * dim + c] += temporalPosition.storage[c] } }
        return (feats.tokens.storage, keyPosition)
    }

    /// SAM 2's memory sequence `[supports | query | pointers]` (`ma.memory`, token-major).
    public var memory: Tensor { inSAM2Order(fixed.memory, queryMemory) }
    /// Its key positions (`ma.memory_pos`).
    public var memoryPos: Tensor { inSAM2Order(fixed.memoryPos, queryMemoryPos) }

    private func inSAM2Order(_ fixedPart: Tensor, _ queryPart: Tensor) -> Tensor {
        let split = fixed.spatialTokens * memoryDim
        let storage = Array(fixedPart.storage[..<split]) + queryPart.storage + Array(fixedPart.storage[split...])
        return Tensor(shape: [fixedPart.shape[0] + queryPart.shape[0], memoryDim], storage: storage)
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

import Checkpoint

extension Hiera {
    /// One `MultiScaleBlock`'s hyper-parameters, as `Hiera.__init__` derives them (spec §2.1, §2.4).
    public struct BlockSpec: Sendable, Equatable {
        public let dim: Int
        public let dimOut: Int
        public let heads: Int
        /// 0 = global attention.
        public let window: Int
        /// Max-pools q (and the projected shortcut) 2×2: the first block of stages 2..4.
        public let poolsQuery: Bool
    }

    /// The block table of a Hiera size: widths double and heads double at each stage start, the
    /// first block of a stage still uses the previous stage's window (the "lag", pitfall 2), and
    /// `global_att_blocks` attend over the whole map.
    public static func blockSpecs(_ config: SAM2Config) -> (blocks: [BlockSpec], stageEnds: [Int]) {
        var stageEnds: [Int] = []
        var total = 0
        for count in config.stages { total += count; stageEnds.append(total - 1) }
        // q_pool = 3: the block after each of the first three stage ends.
        let queryPoolBlocks = Set(stageEnds.dropLast().map { $0 + 1 })
        var dim = config.embedDim, heads = config.numHeads, stage = 0
        var blocks: [BlockSpec] = []
        for i in 0..<total {
            var dimOut = dim
            // Read before `stage` advances: this is the lag.
            var window = config.windowSpec[stage]
            if config.globalAttentionBlocks.contains(i) { window = 0 }
            if stageEnds.contains(i - 1) {
                dimOut = dim * 2
                heads *= 2
                stage += 1
            }
            blocks.append(BlockSpec(dim: dim, dimOut: dimOut, heads: heads, window: window,
                                    poolsQuery: queryPoolBlocks.contains(i)))
            dim = dimOut
        }
        return (blocks, stageEnds)
    }

    /// The Hiera size of a checkpoint, from the trunk's embedding width (patch-embed output
    /// channels) and its number of blocks; tiny and small share the width but not the depth.
    public static func detectConfiguration(_ w: ModuleWeights) throws -> SAM2Config {
        let patchKey = "patch_embed.proj.weight"
        let patch = try w(patchKey)
        guard patch.rank == 4, patch.shape[1] == 3 else {
            throw ModelError(w.prefix + patchKey, "expected [embed_dim, 3, 7, 7], got \(patch.shape)")
        }
        var depth = 0
        while w.contains("blocks.\(depth).norm1.weight") { depth += 1 }
        guard depth > 0 else { throw ModelError(w.prefix + "blocks.0.norm1.weight", "missing: no Hiera blocks found") }
        guard let config = SAM2Config.all.first(where: { $0.embedDim == patch.shape[0] && $0.blockCount == depth }) else {
            throw ModelError(w.prefix + "blocks", "embed_dim \(patch.shape[0]) with \(depth) blocks is no known Hiera "
                             + "(\(SAM2Config.all.map { "\($0.name): \($0.embedDim)/\($0.blockCount)" }.joined(separator: ", ")))")
        }
        return config
    }
}

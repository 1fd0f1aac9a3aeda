/// Tells the size of a network from its tensor shapes (never from file names, which users rename).
public enum ArchitectureDetection {
    /// Number of distinct `N` in keys `<prefix>N.…`.
    static func blockCount(_ tensors: [SourceTensor], prefix: String) -> Int {
        var indices = Set<Int>()
        for t in tensors where t.name.hasPrefix(prefix) {
            if let n = Int(t.name.dropFirst(prefix.count).prefix { $0 != "." }) { indices.insert(n) }
        }
        return indices.count
    }

    /// DINOv2 S/B/L/G from the embedding width (`cls_token` [1,1,D] or the patch embedding's
    /// output channels) and the number of blocks.
    public static func dinov2(_ tensors: [SourceTensor]) -> DINOv2Config? {
        let byName = Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        guard let dim = byName["cls_token"]?.shape.last ?? byName["patch_embed.proj.weight"]?.shape.first else { return nil }
        let depth = blockCount(tensors, prefix: "blocks.")
        return DINOv2Config.all.first { $0.embedDim == dim && $0.depth == depth }
    }

    /// SAM 2 Hiera tiny/small/base+/large from the trunk's embedding width and block count.
    public static func sam2(_ tensors: [SourceTensor]) -> SAM2Config? {
        guard let dim = tensors.first(where: { $0.name == "image_encoder.trunk.patch_embed.proj.weight" })?.shape.first else { return nil }
        let blocks = blockCount(tensors, prefix: "image_encoder.trunk.blocks.")
        return SAM2Config.all.first { $0.embedDim == dim && $0.blockCount == blocks }
    }
}

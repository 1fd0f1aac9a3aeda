import Tensor

/// How FSSAM's support-calibrated cross-attention picks its prototype blocks and the block it
/// biases, for k supports (spec §4.6–4.7). The memory is `[support 0 … support k−1, query Disc,
/// pointers]`, each spatial block `H·W` tokens.
public enum SupportCalibration: String, Sendable, CaseIterable {
    /// Bit-for-bit what the released code executes (FSSAM, FSSAM5s): `memory_mask` holds support
    /// 0's mask only, so `shot' = 1`: the prototype comes from block 0 and the bias lands on
    /// block 1 — the query memory for k = 1, but support 1's memory for k > 1. The released
    /// 5-shot checkpoints were (presumably) trained this way, hence the default.
    case released
    /// Eq. 12–14 of the paper: one prototype per support from its own block and mask, the mean
    /// of the k min-max-normalised cosine maps against the query Disc block (block k), and the
    /// bias on the query block; support blocks stay separate keys. Equal to `released` for k = 1.
    case paper

    /// FSSAM's α: the bias is `−α·ReLU(−X)`.
    public static let alpha: Float = 10

    /// The blocks whose masked-average keys give prototypes (support i uses mask i), and the
    /// block whose logits are biased.
    public func plan(supports k: Int) -> (prototypeBlocks: [Int], calibratedBlock: Int) {
        precondition(k >= 1, "calibration needs at least one support")
        switch self {
        case .released: return ([0], 1)
        case .paper: return (Array(0..<k), k)
        }
    }

    /// `cos_norm` over the calibrated block's `H·W` keys: per prototype block i,
    /// `minmax(cos(Weighted_GAP(K_i, mask_i), K_calibrated))`, then the mean over prototypes.
    /// `keys` are the rotated projected keys `[Nk, dim]`; `masks[i]` is support i's `H·W` mask.
    func normalizedSimilarity(keys: Tensor, dim: Int, height: Int, width: Int, supports: Int,
                              supportMasks masks: [[Float]]) -> [Float] {
        let n = height * width
        let (prototypeBlocks, calibrated) = plan(supports: supports)
        let blockMap = { (block: Int) -> Tensor in
            // Rotated keys of one frame as a `[dim, H, W]` map (the code's `'b n (h w) c -> (b n) c h w'`).
            let slice = Tensor(shape: [n, dim], storage: Array(keys.storage[(block * n * dim)..<((block + 1) * n * dim)]))
            return TokenLayout.transpose(slice, rows: n, columns: dim).reshaped([dim, height, width])
        }
        let target = blockMap(calibrated)
        var sum = [Float](repeating: 0, count: n)
        for block in prototypeBlocks {
            let prototype = PseudoPromptGenerator.weightedGAP(blockMap(block), mask: masks[block])
            var cosine = PseudoPromptGenerator.cosineSimilarity(target, prototype: prototype)
            PseudoPromptGenerator.minMax(&cosine)
            for j in 0..<n { sum[j] += cosine[j] }
        }
        let count = Float(prototypeBlocks.count)
        return sum.map { $0 / count }
    }
}

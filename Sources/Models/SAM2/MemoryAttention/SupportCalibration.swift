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
    /// `supportKeys` are the rotated projected keys of the support blocks (block i at row `i·H·W`),
    /// `target` the calibrated block's; `masks[i]` is support i's `H·W` mask.
    ///
    /// Computed on the token-major keys directly (no `[dim, H, W]` copies): every sum runs in the
    /// same order as `PseudoPromptGenerator.weightedGAP` / `cosineSimilarity` on the channel-major
    /// map (over positions per channel, over channels per position), so the result is bit-identical.
    func normalizedSimilarity(supportKeys: UnsafePointer<Float>, target: UnsafePointer<Float>, dim: Int, height: Int,
                              width: Int, supports: Int, supportMasks masks: [[Float]]) -> [Float] {
        let n = height * width
        let prototypeBlocks = plan(supports: supports).prototypeBlocks
        var sum = [Float](repeating: 0, count: n)
        for block in prototypeBlocks {
            let prototype = Self.weightedGAP(tokens: supportKeys + block * n * dim, count: n, dim: dim,
                                             height: height, width: width, mask: masks[block])
            var cosine = Self.cosineSimilarity(tokens: target, count: n, dim: dim, prototype: prototype)
            PseudoPromptGenerator.minMax(&cosine)
            for j in 0..<n { sum[j] += cosine[j] }
        }
        let count = Float(prototypeBlocks.count)
        return sum.map { $0 / count }
    }

    /// `PseudoPromptGenerator.weightedGAP` of a token-major `[H·W, dim]` block.
    static func weightedGAP(tokens: UnsafePointer<Float>, count n: Int, dim: Int, height: Int, width: Int,
                            mask: [Float]) -> [Float] {
        precondition(mask.count == n, "mask has \(mask.count) values for a \(height)x\(width) grid")
        let (h, w) = (Float(height), Float(width))
        var maskSum: Float = 0
        for m in mask { maskSum += m }
        let area = maskSum / Float(n) * h * w + PseudoPromptGenerator.areaEpsilon
        var sums = [Float](repeating: 0, count: dim)
        sums.withUnsafeMutableBufferPointer { s in
            for p in 0..<n {
                let row = tokens + p * dim, m = mask[p]
                for c in 0..<dim { s[c] += row[c] * m }
            }
        }
        return sums.map { $0 / Float(n) * h * w / area }
    }

    /// `PseudoPromptGenerator.cosineSimilarity` of each token of a `[H·W, dim]` block with `prototype`.
    static func cosineSimilarity(tokens: UnsafePointer<Float>, count n: Int, dim: Int, prototype: [Float]) -> [Float] {
        let protoNorm = Float(prototype.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot())
        let pc = prototype.map(Double.init)
        return (0..<n).map { p in
            let row = tokens + p * dim
            var dot = 0.0, norm = 0.0
            for c in 0..<dim {
                let v = Double(row[c])
                dot += v * pc[c]
                norm += v * v
            }
            return Float(dot) / (protoNorm * Float(norm.squareRoot()) + PseudoPromptGenerator.cosineEpsilon)
        }
    }
}

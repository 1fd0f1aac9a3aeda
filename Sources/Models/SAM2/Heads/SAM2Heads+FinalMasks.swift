import Tensor

extension SAM2Heads {
    /// The final heads' outputs for N images.
    public struct FinalMasks: Sendable {
        /// The three multimask logits `[N, 3, 128, 128]` (mask tokens 1–3).
        public let lowResMultimasks: Tensor
        /// Their predicted IoUs (sigmoid) `[N, 3]`.
        public let ious: Tensor
        /// Object-score logits `[N, 1]`; reported only, they never gate the mask (pitfall 14).
        public let objectScoreLogits: Tensor
        /// Per image, which of the three multimasks was selected (0-based within masks 1–3).
        public let bestIndex: [Int]
        /// The selected mask upsampled to the image size, `[N, S, S]` logits (`out.logits`);
        /// the predicted mask is `logit ≥ 0` (equivalently `sigmoid ≥ 0.5` in float32). Nil when
        /// the caller asked for the low-resolution masks only.
        public let logits: Tensor?
    }

    /// The prompt-free SAM heads on memory-conditioned features (`_forward_sam_heads` with no
    /// points, no mask, `multimask_output=True`; spec §5): `fused [N, 256, 32, 32]` (`pix_feat_with_mem`),
    /// `featS0 [N, 32, 128, 128]`, `featS1 [N, 64, 64, 64]` (FPN levels 0/1 after `conv_s0`/`conv_s1`).
    /// No NO_OBJ_SCORE masking and no hole filling, as in FSSAM. `upsampled: false` skips the
    /// 512² upsampling of the chosen mask (a caller that stores the 128² logits redoes it on use).
    public func decodeFinalMasks(fused: Tensor, featS0: Tensor, featS1: Tensor, upsampled: Bool = true) throws -> FinalMasks {
        let n = fused.shape.first ?? 0
        let side = promptEncoder.imageEmbeddingSize
        guard fused.shape == [n, 256, side.height, side.width] else {
            throw ModelError("fused features", "expected [N, 256, \(side.height), \(side.width)], got \(fused.shape)")
        }
        guard featS0.shape == [n, 32, 4 * side.height, 4 * side.width], featS1.shape == [n, 64, 2 * side.height, 2 * side.width] else {
            throw ModelError("high-res features", "expected [\(n), 32, \(4 * side.height), \(4 * side.width)] and [\(n), 64, \(2 * side.height), \(2 * side.width)], got \(featS0.shape) and \(featS1.shape)")
        }
        let sparse = promptEncoder.sparseEmbeddingsWithoutPoints()
        let dense = promptEncoder.denseEmbeddingWithoutMask()
        var multimasks: [Tensor] = [], ious: [Tensor] = [], scores: [Float] = [], best: [Int] = [], logits: [Tensor] = []
        for i in 0..<n {
            let t = maskDecoder.runTransformer(imageEmbeddings: HeadsTensorOps.item(fused, i), imagePE: densePE,
                                               sparsePrompt: sparse, densePrompt: dense)
            let (masks, iou) = maskDecoder.predictMasks(t, featS0: HeadsTensorOps.item(featS0, i),
                                                        featS1: HeadsTensorOps.item(featS1, i))
            // multimask_output=True: masks[:, 1:], iou_pred[:, 1:].
            let plane = masks.count / masks.shape[1]
            let (h, w) = (masks.shape[2], masks.shape[3])
            let three = Tensor(shape: [1, 3, h, w], storage: Array(masks.storage[plane...]))
            let threeIoU = Array(iou.storage[1...])
            let index = Self.selectBestMask(ious: threeIoU)
            let chosen = Tensor(shape: [1, 1, h, w], storage: Array(three.storage[(index * plane)..<((index + 1) * plane)]))
            // Upsampling the chosen mask alone equals upsampling all three and selecting.
            if upsampled {
                logits.append(Resampling.bilinear(chosen, height: imageSize, width: imageSize, alignCorners: false)
                    .reshaped([1, imageSize, imageSize]))
            }
            multimasks.append(three)
            ious.append(Tensor(shape: [1, 3], storage: threeIoU))
            scores.append(maskDecoder.objectScoreLogit(t))
            best.append(index)
        }
        return FinalMasks(lowResMultimasks: HeadsTensorOps.stack(multimasks), ious: HeadsTensorOps.stack(ious),
                          objectScoreLogits: Tensor(shape: [n, 1], storage: scores), bestIndex: best,
                          logits: upsampled ? HeadsTensorOps.stack(logits) : nil)
    }

    /// `torch.argmax` over the multimask IoUs: the first maximum wins ties.
    public static func selectBestMask(ious: [Float]) -> Int {
        var best = 0
        for i in ious.indices.dropFirst() where ious[i] > ious[best] { best = i }
        return best
    }
}

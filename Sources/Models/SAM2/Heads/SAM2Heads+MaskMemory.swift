import Tensor

extension SAM2Heads {
    /// What `add_new_mask_batch` returns for a batch of N masks, plus the decoder internals the
    /// fixtures record. All float32 (the authors' bf16 cast of the features is not emulated).
    public struct MaskMemory: Sendable {
        /// `maskmem_features [N, 64, 32, 32]`.
        public let features: Tensor
        /// `maskmem_pos_enc[-1] [N, 64, 32, 32]` (sine PE, identical for every mask).
        public let posEnc: Tensor
        /// `obj_ptr [N, 256]`.
        public let objPtr: Tensor
        /// `low_res_masks [N, 1, 128, 128]`: antialiased 512→128 of `20m − 10` (unused by FSSAM).
        public let lowResMasks: Tensor
        /// The 128² mask prompt `mask_downsample(m)` `[N, 1, 128, 128]` (`mem.<t>.dec.mask_inputs`).
        public let maskInputs: Tensor
        /// The decoder's object-score logits `[N, 1]` (`mem.<t>.dec.object_score_logits`).
        public let objectScoreLogits: Tensor
    }

    /// Memory creation (`add_new_mask_batch`, spec §3) for masks `[N, 1, S, S]` in [0, 1] — a
    /// binary support label or a soft prior, never thresholded — on the image features
    /// `visionFeatures [N, 256, S/16, S/16]` (FPN level 2, without `no_mem_embed`).
    ///
    /// The decoder runs only as far as the object pointer needs (two-way transformer, object-score
    /// head, mask token 0): the masks and IoUs of that call are discarded by SAM 2, so the
    /// high-resolution features are not needed here.
    public func encodeMaskMemory(masks: Tensor, visionFeatures: Tensor) throws -> MaskMemory {
        let n = masks.shape.first ?? 0
        guard masks.rank == 4, masks.shape == [n, 1, imageSize, imageSize] else {
            throw ModelError("mask", "expected [N, 1, \(imageSize), \(imageSize)], got \(masks.shape)")
        }
        let side = promptEncoder.imageEmbeddingSize
        guard visionFeatures.shape == [n, 256, side.height, side.width] else {
            throw ModelError("vision features", "expected [\(n), 256, \(side.height), \(side.width)], got \(visionFeatures.shape)")
        }
        let items = (0..<n).map { i in
            encodeOne(mask: HeadsTensorOps.item(masks, i), pixFeat: HeadsTensorOps.item(visionFeatures, i))
        }
        return MaskMemory(features: HeadsTensorOps.stack(items.map(\.features)),
                          posEnc: HeadsTensorOps.stack(items.map(\.posEnc)),
                          objPtr: HeadsTensorOps.stack(items.map(\.objPtr)),
                          lowResMasks: HeadsTensorOps.stack(items.map(\.lowResMasks)),
                          maskInputs: HeadsTensorOps.stack(items.map(\.maskInputs)),
                          objectScoreLogits: HeadsTensorOps.stack(items.map(\.objectScoreLogits)))
    }

    /// One mask `[1, 1, S, S]` on one image's `pixFeat [1, 256, h, w]`.
    func encodeOne(mask: Tensor, pixFeat: Tensor) -> MaskMemory {
        // §3.1 `_use_mask_as_output`: the mask itself is the prediction, as logits 20m − 10
        // (a multiply then an add, each rounded, as PyTorch's two ops).
        let highResMasks = affine(mask, scale: Self.maskOutputScale, bias: Self.maskOutputBias)
        let lowRes = Resampling.bilinearAntialiased(highResMasks, height: imageSize / 4, width: imageSize / 4)

        // §3.3 object pointer: the SAM heads see the [0,1] mask through `mask_downsample` (pitfall 15).
        let maskInputs = maskDownsample(mask)
        let t = maskDecoder.runTransformer(imageEmbeddings: pixFeat, imagePE: densePE,
                                           sparsePrompt: promptEncoder.sparseEmbeddingsWithoutPoints(),
                                           densePrompt: promptEncoder.embedMask(maskInputs))
        let objectScore = maskDecoder.objectScoreLogit(t)
        // multimask_output=False: the pointer comes from the single-mask token 0 (pitfall 17).
        var objPtr = objPtrProj(t.token(MaskDecoder.firstMaskRow)).reshaped([1, 256])
        // Pitfall 16: a hard switch to `no_obj_ptr` unless the object score is > 0 (in
        // `_forward_sam_heads`) and the mask has a positive pixel (in `_use_mask_as_output`).
        let anyPositive = mask.storage.contains { $0 > 0 }
        if !(objectScore > 0) || !anyPositive { objPtr = noObjPtr }

        // §3.4 `_encode_new_memory`: σ of the 512² logits, ×20, −10 (pitfall 15), no second sigmoid.
        let memoryInput = affine(highResMasks.sigmoid(), scale: Self.memorySigmoidScale, bias: Self.memorySigmoidBias)
        let (features, pos) = memoryEncoder(pixFeat: pixFeat, masks: memoryInput)
        return MaskMemory(features: features, posEnc: pos, objPtr: objPtr, lowResMasks: lowRes,
                          maskInputs: maskInputs, objectScoreLogits: Tensor(shape: [1, 1], storage: [objectScore]))
    }

    /// `x · scale + bias` as two separately rounded float32 operations.
    func affine(_ x: Tensor, scale: Float, bias: Float) -> Tensor {
        var out = x
        out.withUnsafeMutableBufferPointer { p in
            for i in 0..<p.count {
                let scaled = p[i] * scale
                p[i] = scaled + bias
            }
        }
        return out
    }
}

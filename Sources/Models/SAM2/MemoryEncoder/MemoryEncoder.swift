import Tensor

/// `memory_encoder.py::MemoryEncoder` (out_dim 64): `out_proj(fuser(pix_feat_proj(pix_feat) +
/// mask_downsampler(masks)))` and its sine position encoding. Called with
/// `skip_mask_sigmoid=True`: the caller has already mapped the mask to `20·σ(logits) − 10`.
public struct MemoryEncoder: Sendable {
    public let maskDownsampler: MaskDownSampler
    public let pixFeatProj: Conv2d
    public let fuser: Fuser
    public let outProj: Conv2d
    public let positionEncoding: MemoryPositionEncoding

    public init(_ w: ModuleWeights, inDim: Int = 256, outDim: Int = 64) throws {
        maskDownsampler = try MaskDownSampler(w.child("mask_downsampler"), embedDim: inDim)
        pixFeatProj = try Conv2d(w.child("pix_feat_proj"), in: inDim, out: inDim, kernel: 1)
        fuser = try Fuser(w.child("fuser"), dim: inDim)
        outProj = try Conv2d(w.child("out_proj"), in: inDim, out: outDim, kernel: 1)
        positionEncoding = MemoryPositionEncoding(numPosFeats: outDim)
    }

    /// One image: `pixFeat [1, 256, 32, 32]`, `masks [1, 1, 512, 512]` (already sigmoid-scaled)
    /// → `(vision_features [1, 64, 32, 32], vision_pos_enc [1, 64, 32, 32])`.
    public func callAsFunction(pixFeat: Tensor, masks: Tensor) -> (features: Tensor, pos: Tensor) {
        let m = maskDownsampler(masks)
        var x = HeadsTensorOps.add(pixFeatProj(pixFeat), m)
        x = fuser(x)
        x = outProj(x)
        return (x, positionEncoding(height: x.shape[2], width: x.shape[3]))
    }
}

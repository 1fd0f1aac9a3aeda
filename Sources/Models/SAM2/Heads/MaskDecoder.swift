import Tensor

/// `sam/mask_decoder.py::MaskDecoder` as SAM 2 Hiera-S configures it: 3 multimask outputs (4 mask
/// tokens), high-resolution features, sigmoid IoU head, MLP object-score head. Works on one image.
public struct MaskDecoder: Sendable {
    public let transformerDim: Int
    public let numMaskTokens: Int
    public let transformer: TwoWayTransformer
    public let iouToken: Tensor
    public let maskTokens: Tensor
    public let objScoreToken: Tensor
    /// `output_upscaling`: ConvT(256→64) → [+feat_s1] → LN2d → GELU → ConvT(64→32) → [+feat_s0] → GELU.
    public let outputUpscaling: (convT0: ConvTranspose2d, norm1: LayerNorm2d, convT3: ConvTranspose2d)
    public let outputHypernetworksMLPs: [MLP]
    public let iouPredictionHead: MLP
    public let predObjScoreHead: MLP

    /// What the two-way transformer leaves: `hs [8, C]` (rows: object score, IoU, 4 mask tokens,
    /// 2 sparse prompts) and the updated image tokens `keys [h·w, C]`.
    public struct TransformerOutput: Sendable {
        public let hs: Tensor
        public let keys: Tensor
        public let height: Int, width: Int
        /// Row `i` of `hs` as `[C]`.
        public func token(_ i: Int) -> Tensor { HeadsTensorOps.rows(hs, i..<(i + 1)).reshaped([hs.shape[1]]) }
    }

    public init(_ w: ModuleWeights, transformerDim: Int = 256, numMultimaskOutputs: Int = 3,
                iouHeadDepth: Int = 3, iouHeadHiddenDim: Int = 256) throws {
        let c = transformerDim
        self.transformerDim = c
        numMaskTokens = numMultimaskOutputs + 1
        transformer = try TwoWayTransformer(w.child("transformer"), embeddingDim: c)
        iouToken = try w("iou_token.weight", shape: [1, c])
        maskTokens = try w("mask_tokens.weight", shape: [numMaskTokens, c])
        objScoreToken = try w("obj_score_token.weight", shape: [1, c])
        let up = w.child("output_upscaling")
        outputUpscaling = (try ConvTranspose2d(up.child("0"), in: c, out: c / 4),
                           try LayerNorm2d(up.child("1"), channels: c / 4),
                           try ConvTranspose2d(up.child("3"), in: c / 4, out: c / 8))
        outputHypernetworksMLPs = try (0..<numMaskTokens).map { i in
            try MLP(w.child("output_hypernetworks_mlps.\(i)"), inputDim: c, hiddenDim: c, outputDim: c / 8, numLayers: 3)
        }
        iouPredictionHead = try MLP(w.child("iou_prediction_head"), inputDim: c, hiddenDim: iouHeadHiddenDim,
                                    outputDim: numMaskTokens, numLayers: iouHeadDepth, sigmoidOutput: true)
        predObjScoreHead = try MLP(w.child("pred_obj_score_head"), inputDim: c, hiddenDim: c, outputDim: 1, numLayers: 3)
    }

    /// Token rows of `hs`: 0 object score, 1 IoU, 2… mask tokens.
    public static let objScoreRow = 0, iouRow = 1, firstMaskRow = 2

    /// `predict_masks` up to the transformer: tokens = [obj_score, iou, mask tokens, sparse],
    /// `src = image_embeddings + dense`, `pos_src = dense PE`.
    public func runTransformer(imageEmbeddings: Tensor, imagePE: Tensor, sparsePrompt: Tensor,
                               densePrompt: Tensor) -> TransformerOutput {
        precondition(imageEmbeddings.rank == 4 && imageEmbeddings.shape[0] == 1 && imageEmbeddings.shape[1] == transformerDim,
                     "MaskDecoder: image embeddings \(imageEmbeddings.shape), expected [1, \(transformerDim), h, w]")
        let tokens = Tensor(shape: [2 + numMaskTokens + sparsePrompt.count / transformerDim, transformerDim],
                            storage: objScoreToken.storage + iouToken.storage + maskTokens.storage + sparsePrompt.storage)
        let src = HeadsTensorOps.add(imageEmbeddings, densePrompt)
        let (hs, keys) = transformer(imageEmbedding: src, imagePE: imagePE, pointEmbedding: tokens)
        return TransformerOutput(hs: hs, keys: keys, height: imageEmbeddings.shape[2], width: imageEmbeddings.shape[3])
    }

    /// The object-score logit `pred_obj_score_head(hs[0])`.
    public func objectScoreLogit(_ t: TransformerOutput) -> Float { predObjScoreHead(t.token(Self.objScoreRow))[0] }

    /// All `numMaskTokens` masks `[1, 4, 4h, 4w]` and sigmoid IoUs `[4]` from the transformer output
    /// and the high-resolution features `featS0 [1, C/8, 4h, 4w]`, `featS1 [1, C/4, 2h, 2w]`.
    public func predictMasks(_ t: TransformerOutput, featS0: Tensor, featS1: Tensor) -> (masks: Tensor, iou: Tensor) {
        let c = transformerDim, (h, w) = (t.height, t.width)
        precondition(featS1.shape == [1, c / 4, 2 * h, 2 * w] && featS0.shape == [1, c / 8, 4 * h, 4 * w],
                     "MaskDecoder: high-res features \(featS0.shape), \(featS1.shape) for a \(h)x\(w) embedding")
        // keys.transpose(1, 2).view(b, c, h, w)
        let src = HeadsTensorOps.transpose2d(t.keys, rows: h * w, cols: c).reshaped([1, c, h, w])
        let up = outputUpscaling
        // Pitfall 19: the skip connection is added before the LayerNorm, and the second stage has none.
        var u = up.norm1(HeadsTensorOps.add(up.convT0(src), featS1)).gelu()
        u = HeadsTensorOps.add(up.convT3(u), featS0).gelu()
        let hyperIn = HeadsTensorOps.stack(outputHypernetworksMLPs.enumerated().map { i, mlp in
            mlp(t.token(Self.firstMaskRow + i)).reshaped([1, c / 8])
        })                                                            // [4, C/8]
        let pixels = 16 * h * w
        let masks = Tensor.matmul(hyperIn, u.reshaped([c / 8, pixels])).reshaped([1, numMaskTokens, 4 * h, 4 * w])
        let iou = iouPredictionHead(t.token(Self.iouRow))
        return (masks, iou)
    }
}

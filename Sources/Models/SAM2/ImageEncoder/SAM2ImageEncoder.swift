import Checkpoint
import Tensor

/// What FSSAM takes from SAM 2's image path for one image (`get_image_feature_batch`, spec §2.12),
/// NCHW with the batch dimension dropped:
/// - `featS0 [32, H/4, W/4]` = `sam_mask_decoder.conv_s0(backbone_fpn[0])` (`feats[0]`)
/// - `featS1 [64, H/8, W/8]` = `conv_s1(backbone_fpn[1])` (`feats[1]`)
/// - `feat [256, H/16, W/16]` = `vision_features` (`feats[2]`), never with `no_mem_embed` (§2.13)
/// - `pos [256, H/16, W/16]` = the sine encoding of `feat`'s size (`poss[2]`); the other levels'
///   encodings are unused by FSSAM and not returned.
/// At 512×512: `[32,128,128]`, `[64,64,64]`, `[256,32,32]`, `[256,32,32]`.
public struct BackboneFeatures: Sendable {
    public var featS0: Tensor
    public var featS1: Tensor
    public var feat: Tensor
    public var pos: Tensor
}

/// SAM 2's image encoder as FSSAM runs it: input normalisation (§1), `ImageEncoder` (Hiera + FPN),
/// then the mask decoder's `conv_s0` / `conv_s1` on the two high-resolution levels (§2.11).
///
/// Built from a SAM 2 state dict with the official key names (`image_encoder.…`,
/// `sam_mask_decoder.conv_s{0,1}.…`); the Hiera size is read from the weights. Immutable and
/// `Sendable`: one instance serves every worker.
public final class SAM2ImageEncoder: Sendable {
    public let imageEncoder: ImageEncoder
    public let convS0: Conv2d
    public let convS1: Conv2d

    public static let pixelMean: [Float] = [0.485, 0.456, 0.406]
    public static let pixelStd: [Float] = [0.229, 0.224, 0.225]

    public convenience init(stateDict: StateDict) throws {
        try self.init(ModuleWeights(stateDict))
    }

    /// `w`: a view at the SAM 2 model's root (prefix `""`, or e.g. `sam2.` in a combined file).
    public init(_ w: ModuleWeights) throws {
        imageEncoder = try ImageEncoder(w.child("image_encoder"))
        let d = imageEncoder.neck.dModel
        convS0 = try Conv2d(w.child("sam_mask_decoder.conv_s0"), in: d, out: d / 8, kernel: 1)
        convS1 = try Conv2d(w.child("sam_mask_decoder.conv_s1"), in: d, out: d / 4, kernel: 1)
    }

    public var trunk: Hiera { imageEncoder.trunk }

    /// `load_video_frames_from_data`'s normalisation, per channel in float32 and in this order:
    /// `x / 255`, `− mean`, `/ std` (not algebraically folded, unlike the DINOv2 branch).
    public static func normalize(_ image: Tensor) -> Tensor {
        precondition(image.shape.suffix(3).first == 3 && image.count % 3 == 0, "SAM 2 input must be [3,H,W] RGB, got \(image.shape)")
        var x = image
        let plane = image.count / 3
        x.withUnsafeMutableBufferPointer { p in
            for c in 0..<3 {
                let base = p.baseAddress! + c * plane
                let (m, s) = (pixelMean[c], pixelStd[c])
                for i in 0..<plane {
                    var v = base[i] / 255
                    v -= m
                    base[i] = v / s
                }
            }
        }
        return x
    }

    /// An 8-bit HWC RGB image as the float `[3, H, W]` 0..255 tensor FSSAM feeds SAM 2.
    public static func imageTensor(rgb: [UInt8], height: Int, width: Int) -> Tensor {
        precondition(rgb.count == height * width * 3, "RGB image of \(rgb.count) bytes is not \(height)x\(width)x3")
        let plane = height * width
        return Tensor(shape: [3, height, width]) { out in
            for i in 0..<plane { for c in 0..<3 { out[c * plane + i] = Float(rgb[i * 3 + c]) } }
        }
    }

    /// `image`: RGB `[3, H, W]` (or `[1, 3, H, W]`) with values 0..255, H and W multiples of 32
    /// (512 in FSSAM).
    public func callAsFunction(image: Tensor) -> BackboneFeatures {
        encode(image: image).features
    }

    /// The features and the intermediate encoder output (trunk stages, FPN levels).
    public func encode(image: Tensor) -> (features: BackboneFeatures, encoder: ImageEncoder.Output) {
        let encoded = imageEncoder(Self.normalize(image))
        let levels = encoded.backboneFPN
        precondition(levels.count >= 3, "SAM2ImageEncoder needs three FPN levels, got \(levels.count)")
        let features = BackboneFeatures(featS0: pointwise(convS0, levels[0]), featS1: pointwise(convS1, levels[1]),
                                        feat: encoded.visionFeatures,
                                        pos: imageEncoder.positionalEncoding(of: encoded.visionFeatures))
        return (features, encoded)
    }

    /// A 1×1 conv of a `[C, H, W]` map as one GEMM (no im2col copy).
    private func pointwise(_ conv: Conv2d, _ x: Tensor) -> Tensor {
        let (h, w) = (x.shape[1], x.shape[2])
        return Tensor(shape: [conv.weight.shape[0], h, w]) { out in
            x.withUnsafeBufferPointer { p in
                HieraKernels.pointwiseConv(p.baseAddress!, pixels: h * w, weight: conv.weight, bias: conv.bias!,
                                           into: out.baseAddress!)
            }
        }
    }
}

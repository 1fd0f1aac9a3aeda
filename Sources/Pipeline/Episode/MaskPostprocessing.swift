import Foundation
import Tensor

/// From the network's 512×512 logits to the binary mask at the image's original size, as the
/// authors evaluate (spec §3/§4): bilinear align_corners=True upsampling, then `sigmoid ≥ 0.5`
/// computed in float32.
public enum MaskPostprocessing {
    /// `logits` is `[S, S]` (or any shape with S·S elements). Returns 1 for target, 0 otherwise,
    /// row-major `height × width`.
    public static func binaryMask(logits: Tensor, height: Int, width: Int) -> [UInt8] {
        binaryMask(upsampled: upsampled(logits: logits, height: height, width: width))
    }

    /// The logits at the original size (bilinear, align_corners=True), row-major `height × width`.
    public static func upsampled(logits: Tensor, height: Int, width: Int) -> [Float] {
        let side = Int(Double(logits.count).squareRoot())
        precondition(side * side == logits.count, "logits must be square, got \(logits.shape)")
        let map = logits.reshaped([1, 1, side, side])
        let up = (height == side && width == side) ? map : Resampling.bilinear(map, height: height, width: width, alignCorners: true)
        return up.storage
    }

    public static func binaryMask(upsampled: [Float]) -> [UInt8] { upsampled.map { isForeground($0) ? 1 : 0 } }

    /// The target probability as 8-bit grey, `round(255 · sigmoid(logit))`: for people and for
    /// re-thresholding; the binary mask is always decided on the float logits, not on these bytes.
    public static func probabilityBytes(upsampled: [Float]) -> [UInt8] {
        upsampled.map { UInt8((255 / (1 + Foundation.exp(-Double($0)))).rounded()) }
    }

    /// `torch.sigmoid(x) >= 0.5` in float32. Not `x >= 0`: float32 sigmoid rounds to exactly 0.5
    /// for tiny negative logits (|x| below about 3e-8), and the reference counts those as target.
    @inline(__always)
    public static func isForeground(_ logit: Float) -> Bool {
        1 / (1 + Foundation.exp(-logit)) >= 0.5
    }
}

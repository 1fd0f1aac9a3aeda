import Checkpoint
import Foundation
import Tensor

/// DINOv2 `DinoVisionTransformer` (facebookresearch/dinov2, no registers), as FSSAM uses it:
/// patch tokens of the last block after the final norm, `[dim, H/14, W/14]` (spec §2).
///
/// Any size (S/B/L/g) is read from the weight shapes: `dim` from `cls_token`, depth from the
/// `blocks.N` keys, the FFN width from `mlp.fc1` (or SwiGLU `mlp.w12`). Heads are `dim / 64`,
/// as in every DINOv2 backbone. Weights are bound by key at construction; a missing or
/// misshaped key throws naming it.
public final class DinoVisionTransformer: Sendable {
    public let embedDim: Int
    public let numHeads: Int
    public let patchEmbed: PatchEmbed
    public let clsToken: Tensor    // [1, 1, dim]
    public let posEmbed: Tensor    // [1, 1 + M·M, dim], M = trained grid (37 at 518 px)
    public let blocks: [Block]
    public let norm: LayerNorm
    /// DINOv2's `interpolate_offset`: the pos-embed scale factor is `(grid + 0.1) / M`.
    public static let interpolateOffset = 0.1
    public static let layerNormEps: Float = 1e-6

    private let positionCache = PositionCache()

    public convenience init(stateDict: StateDict, prefix: String = "") throws {
        try self.init(Weights(stateDict, prefix: prefix))
    }

    public init(_ w: Weights) throws {
        clsToken = try w("cls_token")
        guard clsToken.rank == 3, clsToken.shape[0] == 1, clsToken.shape[1] == 1 else {
            throw ModelError("\(w.prefix)cls_token", "expected [1, 1, dim], got \(clsToken.shape)")
        }
        let dim = clsToken.shape[2]
        embedDim = dim
        guard dim % 64 == 0 else { throw ModelError("\(w.prefix)cls_token", "width \(dim) is not a multiple of the 64-wide heads") }
        numHeads = dim / 64
        posEmbed = try w("pos_embed")
        let positions = posEmbed.rank == 3 ? posEmbed.shape[1] - 1 : -1
        let grid = Int(Double(max(positions, 0)).squareRoot())
        guard posEmbed.rank == 3, posEmbed.shape[0] == 1, posEmbed.shape[2] == dim, grid * grid == positions else {
            throw ModelError("\(w.prefix)pos_embed", "expected [1, 1 + M², \(dim)], got \(posEmbed.shape)")
        }
        patchEmbed = try PatchEmbed(w.child("patch_embed"))
        guard patchEmbed.dim == dim else {
            throw ModelError("\(w.prefix)patch_embed.proj.weight", "has \(patchEmbed.dim) outputs, cls_token has width \(dim)")
        }
        var depth = 0
        while w.contains("blocks.\(depth).norm1.weight") { depth += 1 }
        guard depth > 0 else { throw ModelError("\(w.prefix)blocks.0.norm1.weight", "missing: no transformer blocks found") }
        blocks = try (0..<depth).map { try Block(w.child("blocks.\($0)"), dim: dim, numHeads: dim / 64) }
        norm = try LayerNorm(w.child("norm"), dim: dim)
    }

    public var depth: Int { blocks.count }
    public var patchSize: Int { patchEmbed.patchSize }

    // MARK: FSSAM's input path

    /// ImageNet statistics on the 0..255 scale, rounded once to float32 as FSSAM's
    /// `[item * 255 for item in mean]` tensors are.
    public static let pixelMean: [Float] = [0.485, 0.456, 0.406].map { Float($0 * 255) }
    public static let pixelStd: [Float] = [0.229, 0.224, 0.225].map { Float($0 * 255) }

    /// FSSAM's DINOv2 input: bilinear (align_corners=True) resize of the 0..255 RGB image
    /// `[1, 3, H, W]` to `size`, then `(v − 255·mean) / (255·std)` per channel.
    public static func preprocess(_ image: Tensor, size: Int = 560) -> Tensor {
        precondition(image.rank == 4 && image.shape[1] == 3, "DINOv2 input must be [B,3,H,W], got \(image.shape)")
        var x = Resampling.bilinear(image, height: size, width: size, alignCorners: true)
        let plane = size * size
        x.withUnsafeMutableBufferPointer { p in
            for b in 0..<image.shape[0] {
                for c in 0..<3 {
                    let base = p.baseAddress! + (b * 3 + c) * plane
                    let (m, s) = (pixelMean[c], pixelStd[c])
                    for i in 0..<plane { base[i] = (base[i] - m) / s }
                }
            }
        }
        return x
    }

    /// An 8-bit HWC RGB image as the float `[1, 3, H, W]` 0..255 tensor FSSAM feeds its models.
    public static func imageTensor(rgb: [UInt8], height: Int, width: Int) -> Tensor {
        precondition(rgb.count == height * width * 3, "RGB image of \(rgb.count) bytes is not \(height)x\(width)x3")
        let plane = height * width
        return Tensor(shape: [1, 3, height, width]) { out in
            for i in 0..<plane { for c in 0..<3 { out[c * plane + i] = Float(rgb[i * 3 + c]) } }
        }
    }

    /// U8 RGB image → `[dim, 40, 40]` features, exactly FSSAM's DINOv2 branch at 560 px.
    public func features(rgb: [UInt8], height: Int, width: Int, size: Int = 560) -> Tensor {
        callAsFunction(Self.preprocess(Self.imageTensor(rgb: rgb, height: height, width: width), size: size))
    }

    // MARK: Forward

    /// `get_intermediate_layers(x, n=1, reshape=True, norm=True)[0]` for one normalised image
    /// `[1, 3, H, W]`: the last block's patch tokens after the final norm, as `[dim, H/p, W/p]`.
    /// Intermediate blocks' normed outputs (which FSSAM discards) are never computed.
    public func callAsFunction(_ image: Tensor) -> Tensor {
        let (gh, gw) = (image.shape[2] / patchSize, image.shape[3] / patchSize)
        var x = tokens(image)
        let patches = gh * gw
        var normed = [Float](repeating: 0, count: patches * embedDim)
        x.withUnsafeMutableBufferPointer { stream in
            normed.withUnsafeMutableBufferPointer { out in
                // Row 0 is the CLS token; only the patch rows are normed and returned.
                norm.apply(stream.baseAddress! + embedDim, rows: patches, into: out.baseAddress!)
            }
        }
        // [tokens, dim] → [dim, gh, gw]
        let d = embedDim
        return Tensor(shape: [d, gh, gw]) { out in
            normed.withUnsafeBufferPointer { src in
                for t in 0..<patches { for c in 0..<d { out[c * patches + t] = src[t * d + c] } }
            }
        }
    }

    /// The residual stream `[1 + gh·gw, dim]` (CLS first) after the first `blockCount` blocks
    /// (all by default), before the final norm.
    public func tokens(_ image: Tensor, blockCount: Int? = nil) -> Tensor {
        precondition(image.rank == 4 && image.shape[0] == 1 && image.shape[1] == 3,
                     "DinoVisionTransformer takes one [1,3,H,W] image, got \(image.shape)")
        let (gh, gw) = (image.shape[2] / patchSize, image.shape[3] / patchSize)
        let patches = patchEmbed(image)
        let count = 1 + gh * gw, d = embedDim
        let position = positionalEmbedding(gridHeight: gh, gridWidth: gw)
        var x = Tensor(shape: [count, d]) { out in
            patches.withUnsafeBufferPointer { p in
                clsToken.withUnsafeBufferPointer { cls in
                    position.withUnsafeBufferPointer { pos in
                        for c in 0..<d { out[c] = cls[c] + pos[c] }
                        for i in d..<(count * d) { out[i] = p[i - d] + pos[i] }
                    }
                }
            }
        }
        let scratch = Scratch(tokens: count, dim: d, hidden: blocks.map(\.mlp.hiddenWidth).max() ?? 0)
        x.withUnsafeMutableBufferPointer { stream in
            for block in blocks.prefix(blockCount ?? blocks.count) {
                block.apply(residual: stream.baseAddress!, tokens: count, scratch: scratch)
            }
        }
        return x
    }

    /// `interpolate_pos_encoding`: `[1 + gh·gw, dim]`, computed once per grid size and cached.
    /// Bicubic with `scale_factor = (grid + 0.1)/M` (PyTorch then uses 1/scale as the ratio).
    public func positionalEmbedding(gridHeight gh: Int, gridWidth gw: Int) -> Tensor {
        positionCache.value(for: [gh, gw]) {
            let d = embedDim
            let m = Int(Double(posEmbed.shape[1] - 1).squareRoot())
            if gh * gw == m * m && gh == gw { return posEmbed.reshaped([m * m + 1, d]) }
            // As the original: dim 2 is scaled with the width's grid and dim 3 with the height's
            // (it names them w and h); identical for the square inputs FSSAM uses.
            let grid = Tensor(shape: [1, d, m, m]) { out in
                posEmbed.withUnsafeBufferPointer { src in
                    for t in 0..<(m * m) { for c in 0..<d { out[c * m * m + t] = src[(1 + t) * d + c] } }
                }
            }
            let sx = (Double(gw) + Self.interpolateOffset) / Double(m)
            let sy = (Double(gh) + Self.interpolateOffset) / Double(m)
            let resized = Resampling.bicubic(grid, scaleFactor: (sx, sy))
            let (rh, rw) = (resized.shape[2], resized.shape[3])
            precondition(rh * rw == gh * gw, "pos-embed resize gave \(rh)x\(rw) for a \(gh)x\(gw) grid")
            return Tensor(shape: [1 + rh * rw, d]) { out in
                posEmbed.withUnsafeBufferPointer { src in for c in 0..<d { out[c] = src[c] } }
                resized.withUnsafeBufferPointer { src in
                    for t in 0..<(rh * rw) { for c in 0..<d { out[(1 + t) * d + c] = src[c * rh * rw + t] } }
                }
            }
        }
    }
}

/// A lock-protected memo of tensors by key (interpolated position embeddings per grid size).
final class PositionCache: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [[Int]: Tensor] = [:]

    func value(for key: [Int], _ make: () -> Tensor) -> Tensor {
        if let hit = lock.withLock({ entries[key] }) { return hit }
        let made = make()
        lock.withLock { entries[key] = made }
        return made
    }
}

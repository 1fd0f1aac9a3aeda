import Checkpoint
import Tensor

/// `Hiera` (`backbones/hieradet.py`), SAM 2's hierarchical trunk (spec §2.1–2.8). The size
/// (tiny / small / base+ / large) is detected from the checkpoint; every weight is bound by its
/// key under `image_encoder.trunk.` at construction, and a missing or misshaped one throws naming it.
public final class Hiera: Sendable {
    public let config: SAM2Config
    public let patchEmbed: PatchEmbed
    /// `[1, C, b, b]`, bicubically resized to the token grid (7×7 for S and L, 14×14 for B+).
    public let posEmbed: Tensor
    /// `[1, C, w0, w0]`, tiled over the grid (w0 = first window size, 8).
    public let posEmbedWindow: Tensor
    public let blocks: [MultiScaleBlock]
    /// Indices of the blocks that end a stage: the trunk outputs (`[0, 2, 13, 15]` for S).
    public let stageEnds: [Int]

    private let positionCache = PositionCache()

    /// `w`: the trunk's weights (`image_encoder.trunk.` of a SAM 2 state dict).
    public init(_ w: ModuleWeights) throws {
        config = try Hiera.detectConfiguration(w)
        let e = config.embedDim
        patchEmbed = try PatchEmbed(w.child("patch_embed"), embedDim: e)
        let b = config.backgroundPosEmbedSize, w0 = config.windowSpec[0]
        posEmbed = try w("pos_embed", shape: [1, e, b, b])
        posEmbedWindow = try w("pos_embed_window", shape: [1, e, w0, w0])
        let table = Hiera.blockSpecs(config)
        stageEnds = table.stageEnds
        blocks = try table.blocks.enumerated().map { i, spec in try MultiScaleBlock(w.child("blocks.\(i)"), spec: spec) }
    }

    /// The four stage outputs for one normalised image `[3, H, W]` (or `[1, 3, H, W]`),
    /// channels-last (`[128², 96]`, `[64², 192]`, `[32², 384]`, `[16², 768]` for S at 512).
    public func callAsFunction(_ image: Tensor) -> [TokenMap] {
        var x = patchEmbed(image)
        let position = positionalEmbedding(height: x.height, width: x.width)
        x.data.withUnsafeMutableBufferPointer { t in
            position.withUnsafeBufferPointer { p in HieraKernels.add(p.baseAddress!, into: t.baseAddress!, count: t.count) }
        }
        var outputs: [TokenMap] = []
        for (i, block) in blocks.enumerated() {
            x = block(x)
            if stageEnds.contains(i) { outputs.append(x) }
        }
        return outputs
    }

    /// `_get_pos_embed` (spec §2.3): `bicubic(pos_embed, size=(h, w)) + tile(pos_embed_window)`,
    /// channels-last `[h·w, C]`. Depends only on the grid size, so it is computed once per size.
    public func positionalEmbedding(height h: Int, width w: Int) -> Tensor {
        positionCache.value(for: [h, w]) {
            let c = config.embedDim
            let (wh, ww) = (posEmbedWindow.shape[2], posEmbedWindow.shape[3])
            precondition(h % wh == 0 && w % ww == 0,
                         "Hiera: a \(h)x\(w) token grid does not tile the \(wh)x\(ww) window position embedding")
            var grid = Resampling.bicubic(posEmbed, height: h, width: w)   // [1, C, h, w]
            grid.withUnsafeMutableBufferPointer { g in
                posEmbedWindow.withUnsafeBufferPointer { win in
                    for ch in 0..<c {
                        for y in 0..<h {
                            let row = g.baseAddress! + (ch * h + y) * w
                            let wrow = win.baseAddress! + (ch * wh + y % wh) * ww
                            for x in 0..<w { row[x] += wrow[x % ww] }
                        }
                    }
                }
            }
            return Tensor(shape: [h * w, c]) { out in
                grid.withUnsafeBufferPointer { g in
                    HieraKernels.transpose(g.baseAddress!, rows: c, columns: h * w, into: out.baseAddress!)
                }
            }
        }
    }
}

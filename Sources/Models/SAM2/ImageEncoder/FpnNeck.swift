import Tensor

/// `FpnNeck` (`backbones/image_encoder.py`, spec §2.9) as SAM 2 configures it: 1×1 lateral convs to
/// `d_model` (256), nearest ×2 top-down path into the levels in `fpn_top_down_levels` ([2, 3]),
/// `fuse_type = sum`. `convs[0]` belongs to the deepest (lowest-resolution) trunk output
/// (pitfall 6). Outputs are NCHW without the batch; the sine position encodings are separate
/// (`PositionEmbeddingSine`), since they depend only on each level's size.
public struct FpnNeck: Sendable {
    /// `convs.{j}.conv`: `backbone_channel_list[j] → d_model`, deepest level first.
    public let convs: [Conv2d]
    public let dModel: Int
    public let topDownLevels: Set<Int> = [2, 3]

    /// `backboneChannels`: the trunk's stage widths, deepest first (`[768, 384, 192, 96]` for S).
    init(_ w: ModuleWeights, backboneChannels: [Int], dModel: Int = 256) throws {
        convs = try backboneChannels.enumerated().map { j, c in
            try Conv2d(w.child("convs.\(j).conv"), in: c, out: dModel, kernel: 1)
        }
        self.dModel = dModel
    }

    /// Trunk outputs (shallowest first, channels-last) → `[d_model, H_i, W_i]` per level.
    public func callAsFunction(_ xs: [TokenMap]) -> [Tensor] {
        precondition(xs.count == convs.count, "FpnNeck: \(xs.count) trunk levels for \(convs.count) convs")
        var outs = [Tensor?](repeating: nil, count: xs.count)
        var previous: Tensor?
        for i in stride(from: xs.count - 1, through: 0, by: -1) {
            let x = xs[i], conv = convs[xs.count - 1 - i]
            var lateral = Tensor(shape: [dModel, x.height, x.width]) { out in
                x.data.withUnsafeBufferPointer { p in
                    HieraKernels.pointwiseConvFromChannelsLast(p.baseAddress!, pixels: x.tokens, weight: conv.weight,
                                                               bias: conv.bias!, into: out.baseAddress!)
                }
            }
            if topDownLevels.contains(i), let top = previous {
                // lateral + nearest ×2 (pure replication) of the level below.
                let (h, w) = (x.height, x.width)
                let (th, tw) = (top.shape[1], top.shape[2])
                precondition(th * 2 == h && tw * 2 == w, "FpnNeck: level \(i) is \(h)x\(w), level above is \(th)x\(tw)")
                lateral.withUnsafeMutableBufferPointer { l in
                    top.withUnsafeBufferPointer { t in
                        for c in 0..<dModel {
                            for y in 0..<h {
                                let row = l.baseAddress! + (c * h + y) * w
                                let src = t.baseAddress! + (c * th + y / 2) * tw
                                for x in 0..<w { row[x] = row[x] + src[x / 2] }
                            }
                        }
                    }
                }
            }
            outs[i] = lateral
            previous = lateral
        }
        return outs.map { $0! }
    }
}

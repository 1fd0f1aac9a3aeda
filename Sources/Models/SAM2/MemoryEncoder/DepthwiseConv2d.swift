import Tensor

/// A depthwise `nn.Conv2d` (groups == channels, weight `[C, 1, k, k]`, zero padding, stride 1),
/// the CXBlock's 7×7 `dwconv`. The generic im2col path would run 256 one-row GEMMs on a
/// 49-row unfolded copy per channel; a direct shifted multiply-add per tap is ~10× faster here.
public struct DepthwiseConv2d: Sendable {
    public let weight: Tensor
    public let bias: Tensor
    public let padding: Int

    public init(_ w: ModuleWeights, channels: Int, kernel: Int, padding: Int) throws {
        weight = try w("weight", shape: [channels, 1, kernel, kernel])
        bias = try w("bias", shape: [channels])
        self.padding = padding
    }

    /// `x [N, C, H, W]` → `[N, C, H + 2p − k + 1, W + 2p − k + 1]`.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        precondition(x.rank == 4 && c == weight.shape[0], "DepthwiseConv2d: input \(x.shape) for weight \(weight.shape)")
        let k = weight.shape[2], p = padding
        let (ho, wo) = (h + 2 * p - k + 1, w + 2 * p - k + 1)
        return Tensor(shape: [n, c, ho, wo]) { out in
            x.withUnsafeBufferPointer { src in weight.withUnsafeBufferPointer { wt in bias.withUnsafeBufferPointer { b in
                nonisolated(unsafe) let (s, d, wp, bp) = (src.baseAddress!, out.baseAddress!, wt.baseAddress!, b.baseAddress!)
                ComputeThreads.parallelFor(n * c) { plane in
                    let ch = plane % c
                    let input = s + plane * h * w, output = d + plane * ho * wo
                    output.update(repeating: bp[ch], count: ho * wo)
                    for ky in 0..<k {
                        // Output rows whose input row oy + ky − p lies inside the image.
                        let y0 = max(0, p - ky), y1 = min(ho, h + p - ky)
                        for kx in 0..<k {
                            let tap = wp[(ch * k + ky) * k + kx]
                            let x0 = max(0, p - kx), x1 = min(wo, w + p - kx)
                            guard y0 < y1, x0 < x1 else { continue }
                            for oy in y0..<y1 {
                                let inRow = input + (oy + ky - p) * w + (kx - p)
                                let outRow = output + oy * wo
                                for ox in x0..<x1 { outRow[ox] += tap * inRow[ox] }
                            }
                        }
                    }
                }
            }}}
        }
    }
}

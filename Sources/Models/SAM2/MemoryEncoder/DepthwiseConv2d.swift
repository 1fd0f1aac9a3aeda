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
    ///
    /// Per plane: the input is copied into a zero-padded plane, then each output row is summed in
    /// registers over the k² taps (taps in row-major order, as before: a padded zero adds ±0, which
    /// can only change the sign of an exact zero), eight columns at a time.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        precondition(x.rank == 4 && c == weight.shape[0], "DepthwiseConv2d: input \(x.shape) for weight \(weight.shape)")
        let k = weight.shape[2], p = padding
        let (ho, wo) = (h + 2 * p - k + 1, w + 2 * p - k + 1)
        let (hp, wp) = (h + 2 * p, w + 2 * p)
        return Tensor(shape: [n, c, ho, wo]) { out in
            x.withUnsafeBufferPointer { src in weight.withUnsafeBufferPointer { wt in bias.withUnsafeBufferPointer { b in
                nonisolated(unsafe) let (s, d, taps, bp) = (src.baseAddress!, out.baseAddress!, wt.baseAddress!, b.baseAddress!)
                ComputeThreads.parallelRanges(n * c) { planes in
                    // Padded plane, plus 8 floats of slack so the last vector load of a row stays inside.
                    let padded = UnsafeMutablePointer<Float>.allocate(capacity: hp * wp + 8)
                    defer { padded.deallocate() }
                    padded.initialize(repeating: 0, count: hp * wp + 8)
                    for plane in planes {
                        let ch = plane % c
                        let input = s + plane * h * w, output = d + plane * ho * wo
                        for y in 0..<h { (padded + (y + p) * wp + p).update(from: input + y * w, count: w) }
                        let kernel = taps + ch * k * k
                        for oy in 0..<ho {
                            let outRow = output + oy * wo
                            var ox = 0
                            while ox + 8 <= wo {
                                var acc = SIMD8<Float>(repeating: bp[ch])
                                for ky in 0..<k {
                                    let row = UnsafeRawPointer(padded + (oy + ky) * wp + ox)
                                    for kx in 0..<k {
                                        acc += kernel[ky * k + kx] * row.loadUnaligned(fromByteOffset: kx * 4, as: SIMD8<Float>.self)
                                    }
                                }
                                UnsafeMutableRawPointer(outRow + ox).storeBytes(of: acc, as: SIMD8<Float>.self)
                                ox += 8
                            }
                            for x in ox..<wo {
                                var acc = bp[ch]
                                for ky in 0..<k {
                                    let row = padded + (oy + ky) * wp + x
                                    for kx in 0..<k { acc += kernel[ky * k + kx] * row[kx] }
                                }
                                outRow[x] = acc
                            }
                        }
                    }
                }
            }}}
        }
    }
}

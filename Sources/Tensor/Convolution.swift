/// 2-D convolution (PyTorch `nn.Conv2d` semantics, NCHW, zero padding), as im2col + GEMM per
/// image and group. Depthwise convolutions are the `groups == channels` case.
extension Tensor {
    /// `F.conv2d(self, weight, bias, stride, padding, groups=groups)` with `self [N,C,H,W]` and
    /// `weight [O, C/groups, kh, kw]`.
    public func conv2d(weight: Tensor, bias: Tensor?, stride: (Int, Int) = (1, 1),
                       padding: (Int, Int) = (0, 0), groups: Int = 1) -> Tensor {
        precondition(rank == 4 && weight.rank == 4, "conv2d needs NCHW input and OIHW weight, got \(shape), \(weight.shape)")
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let (o, cg, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
        precondition(groups >= 1 && c % groups == 0 && o % groups == 0 && cg == c / groups,
                     "conv2d: input channels \(c), weight \(weight.shape), groups \(groups) do not fit")
        precondition(bias == nil || bias!.count == o, "conv2d: bias \(bias!.shape) for \(o) output channels")
        let ho = (h + 2 * padding.0 - kh) / stride.0 + 1
        let wo = (w + 2 * padding.1 - kw) / stride.1 + 1
        precondition(ho > 0 && wo > 0, "conv2d: kernel \(kh)x\(kw) does not fit input \(h)x\(w) with padding \(padding)")
        let og = o / groups
        let patch = cg * kh * kw, pixels = ho * wo
        return Tensor(shape: [n, o, ho, wo]) { out in
            withUnsafeBufferPointer { input in
                weight.withUnsafeBufferPointer { wt in
                    var columns = [Float](repeating: 0, count: patch * pixels)
                    columns.withUnsafeMutableBufferPointer { col in
                        for image in 0..<n {
                            for g in 0..<groups {
                                let src = input.baseAddress! + (image * c + g * cg) * h * w
                                Convolution.im2col(src, channels: cg, height: h, width: w, kernel: (kh, kw),
                                                   stride: stride, padding: padding, outHeight: ho, outWidth: wo,
                                                   into: col.baseAddress!)
                                let dst = out.baseAddress! + (image * o + g * og) * pixels
                                if let bias {
                                    bias.withUnsafeBufferPointer { b in
                                        for oc in 0..<og { (dst + oc * pixels).update(repeating: b[g * og + oc], count: pixels) }
                                    }
                                }
                                BLAS.sgemm(m: og, n: pixels, k: patch,
                                           a: wt.baseAddress! + g * og * patch, lda: patch,
                                           b: col.baseAddress!, ldb: pixels,
                                           beta: bias == nil ? 0 : 1, c: dst, ldc: pixels)
                            }
                        }
                    }
                }
            }
        }
    }
}

public enum Convolution {
    /// Unfolds `[channels, height, width]` into `[channels·kh·kw, outHeight·outWidth]`
    /// (row order c, ky, kx as PyTorch's weight layout), zero outside the image.
    public static func im2col(_ src: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
                              kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int),
                              outHeight: Int, outWidth: Int, into col: UnsafeMutablePointer<Float>) {
        let (kh, kw) = kernel
        let rows = channels * kh * kw
        nonisolated(unsafe) let (s, d) = (src, col)
        ComputeThreads.parallelFor(rows) { row in
            let ch = row / (kh * kw), ky = (row / kw) % kh, kx = row % kw
            let plane = s + ch * height * width
            let dstRow = d + row * outHeight * outWidth
            for oy in 0..<outHeight {
                let iy = oy * stride.0 - padding.0 + ky
                let dstLine = dstRow + oy * outWidth
                guard iy >= 0 && iy < height else {
                    dstLine.update(repeating: 0, count: outWidth)
                    continue
                }
                let srcLine = plane + iy * width
                for ox in 0..<outWidth {
                    let ix = ox * stride.1 - padding.1 + kx
                    dstLine[ox] = (ix >= 0 && ix < width) ? srcLine[ix] : 0
                }
            }
        }
    }
}

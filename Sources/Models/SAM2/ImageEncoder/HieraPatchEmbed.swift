import Tensor

extension Hiera {
    /// `PatchEmbed` (`backbones/utils.py`): Conv2d(3 → embed_dim, kernel 7, stride 4, padding 3),
    /// then NCHW → NHWC (spec §2.2).
    public struct PatchEmbed: Sendable {
        public let proj: Conv2d

        init(_ w: ModuleWeights, embedDim: Int) throws {
            proj = try Conv2d(w.child("proj"), in: 3, out: embedDim, kernel: 7, stride: 4, padding: 3)
        }

        /// `image [3, H, W]` (normalised) → tokens `[(H/4)·(W/4), embed_dim]`. The convolution is one
        /// GEMM with both operands transposed so its output is already channels-last.
        public func callAsFunction(_ image: Tensor) -> TokenMap {
            precondition(image.count % 3 == 0 && image.shape.suffix(3).first == 3,
                         "Hiera.PatchEmbed needs a [3,H,W] image, got \(image.shape)")
            let (h, w) = (image.shape[image.rank - 2], image.shape[image.rank - 1])
            let (kh, kw) = (proj.weight.shape[2], proj.weight.shape[3])
            let ho = (h + 2 * proj.padding.0 - kh) / proj.stride.0 + 1
            let wo = (w + 2 * proj.padding.1 - kw) / proj.stride.1 + 1
            let patch = 3 * kh * kw, pixels = ho * wo, dim = proj.weight.shape[0]
            var columns = [Float](repeating: 0, count: patch * pixels)
            let out = Tensor(shape: [pixels, dim]) { out in
                let o = out.baseAddress!
                proj.bias!.withUnsafeBufferPointer { b in
                    for p in 0..<pixels { (o + p * dim).update(from: b.baseAddress!, count: dim) }
                }
                image.withUnsafeBufferPointer { src in
                    columns.withUnsafeMutableBufferPointer { col in
                        Convolution.im2col(src.baseAddress!, channels: 3, height: h, width: w, kernel: (kh, kw),
                                           stride: proj.stride, padding: proj.padding, outHeight: ho, outWidth: wo,
                                           into: col.baseAddress!)
                        proj.weight.withUnsafeBufferPointer { wt in
                            // out[pixel, o] = Σ_k col[k, pixel] · W[o, k]
                            BLAS.sgemm(transposeA: true, transposeB: true, m: pixels, n: dim, k: patch,
                                       a: col.baseAddress!, lda: pixels, b: wt.baseAddress!, ldb: patch,
                                       beta: 1, c: o, ldc: dim)
                        }
                    }
                }
            }
            return TokenMap(data: out, height: ho, width: wo)
        }
    }
}

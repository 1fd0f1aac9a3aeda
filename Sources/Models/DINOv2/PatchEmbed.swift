import Tensor

extension DinoVisionTransformer {
    /// `PatchEmbed`: a `patch×patch`, stride-`patch` convolution from RGB to `dim` channels,
    /// producing tokens `[gh·gw, dim]` in row-major (y, then x) patch order. Its norm is Identity.
    public struct PatchEmbed: Sendable {
        public let weight: Tensor   // [dim, 3, patch, patch]
        public let bias: Tensor     // [dim]
        public var patchSize: Int { weight.shape[2] }
        public var dim: Int { weight.shape[0] }

        init(_ w: Weights) throws {
            weight = try w("proj.weight")
            guard weight.rank == 4, weight.shape[1] == 3, weight.shape[2] == weight.shape[3] else {
                throw ModelError("\(w.prefix)proj.weight", "expected [dim, 3, p, p], got \(weight.shape)")
            }
            bias = try w("proj.bias", shape: [weight.shape[0]])
        }

        /// `image [1, 3, H, W]` → tokens `[gh·gw, dim]`. The convolution is written as one GEMM
        /// with transposed operands so the output lands token-major, without a transpose pass.
        public func callAsFunction(_ image: Tensor) -> Tensor {
            precondition(image.rank == 4 && image.shape[0] == 1 && image.shape[1] == 3,
                         "PatchEmbed needs one [1,3,H,W] image, got \(image.shape)")
            let p = patchSize, (h, w) = (image.shape[2], image.shape[3])
            let (gh, gw) = (h / p, w / p)
            let patch = 3 * p * p, tokens = gh * gw
            var columns = [Float](repeating: 0, count: patch * tokens)
            image.withUnsafeBufferPointer { src in
                columns.withUnsafeMutableBufferPointer { col in
                    Convolution.im2col(src.baseAddress!, channels: 3, height: h, width: w, kernel: (p, p),
                                       stride: (p, p), padding: (0, 0), outHeight: gh, outWidth: gw,
                                       into: col.baseAddress!)
                }
            }
            return Tensor(shape: [tokens, dim]) { out in
                bias.withUnsafeBufferPointer { b in
                    for t in 0..<tokens { (out.baseAddress! + t * dim).update(from: b.baseAddress!, count: dim) }
                }
                columns.withUnsafeBufferPointer { col in
                    weight.withUnsafeBufferPointer { wt in
                        // tokens[t, o] = Σ_k col[k, t] · W[o, k]
                        BLAS.sgemm(transposeA: true, transposeB: true, m: tokens, n: dim, k: patch,
                                   a: col.baseAddress!, lda: tokens, b: wt.baseAddress!, ldb: patch,
                                   beta: 1, c: out.baseAddress!, ldc: dim)
                    }
                }
            }
        }
    }
}

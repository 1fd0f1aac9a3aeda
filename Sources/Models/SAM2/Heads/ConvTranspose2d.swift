import Tensor

/// `nn.ConvTranspose2d(in, out, kernel_size=2, stride=2)`, the decoder's ×2 upscaling. With
/// kernel == stride the output pixels do not overlap, so it is one GEMM:
/// `out[o, 2y+dy, 2x+dx] = b[o] + Σ_i in[i,y,x]·W[i,o,dy,dx]`, i.e. `Wᵀ [out·4, in] × X [in, H·W]`,
/// then a scatter of the four `(dy,dx)` phases. Weight layout is PyTorch's `[in, out, 2, 2]`.
public struct ConvTranspose2d: Sendable {
    public let weight: Tensor
    public let bias: Tensor
    public var inChannels: Int { weight.shape[0] }
    public var outChannels: Int { weight.shape[1] }

    public init(_ w: ModuleWeights, in inChannels: Int, out outChannels: Int) throws {
        weight = try w("weight", shape: [inChannels, outChannels, 2, 2])
        bias = try w("bias", shape: [outChannels])
    }

    /// `x [N, in, H, W]` → `[N, out, 2H, 2W]`.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && x.shape[1] == inChannels, "ConvTranspose2d: input \(x.shape) for weight \(weight.shape)")
        let (n, h, w) = (x.shape[0], x.shape[2], x.shape[3])
        let (cin, cout, pixels) = (inChannels, outChannels, h * w)
        var phases = [Float](repeating: 0, count: cout * 4 * pixels)
        return Tensor(shape: [n, cout, 2 * h, 2 * w]) { out in
            x.withUnsafeBufferPointer { src in
                weight.withUnsafeBufferPointer { wt in
                    bias.withUnsafeBufferPointer { b in
                        phases.withUnsafeMutableBufferPointer { ph in
                            for image in 0..<n {
                                // ph[(o·4 + dy·2 + dx), p] = Σ_i W[i, o, dy, dx] · x[i, p]
                                BLAS.sgemm(transposeA: true, m: cout * 4, n: pixels, k: cin,
                                           a: wt.baseAddress!, lda: cout * 4,
                                           b: src.baseAddress! + image * cin * pixels, ldb: pixels,
                                           c: ph.baseAddress!, ldc: pixels)
                                let dst = out.baseAddress! + image * cout * 4 * pixels
                                for o in 0..<cout {
                                    for phase in 0..<4 {
                                        let (dy, dx) = (phase / 2, phase % 2)
                                        let row = ph.baseAddress! + (o * 4 + phase) * pixels
                                        let plane = dst + o * 4 * pixels
                                        for y in 0..<h {
                                            let line = plane + (2 * y + dy) * 2 * w + dx
                                            for xx in 0..<w { line[2 * xx] = row[y * w + xx] + b[o] }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

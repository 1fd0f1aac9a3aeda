import CBLAS

/// Row-major single-precision GEMM, `C = alpha·op(A)·op(B) + beta·C`, through OpenBLAS.
/// `op(A)` is `m×k`, `op(B)` is `k×n`, `C` is `m×n`; leading dimensions are row strides, so a
/// head's slice of a packed `[N, 3·C]` QKV buffer can be passed without copying.
public enum BLAS {
    @inline(__always)
    public static func sgemm(transposeA: Bool = false, transposeB: Bool = false,
                             m: Int, n: Int, k: Int, alpha: Float = 1,
                             a: UnsafePointer<Float>, lda: Int,
                             b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0,
                             c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0, n > 0 else { return }
        if k == 0 {
            // BLAS leaves C·beta; make the degenerate product explicit rather than rely on it.
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] *= beta } }
            return
        }
        cblas_sgemm(CblasRowMajor,
                    transposeA ? CblasTrans : CblasNoTrans,
                    transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha,
                    a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// `y[rows, outFeatures] = x[rows, inFeatures]·Wᵀ + bias`, with `W` in PyTorch's
    /// `[outFeatures, inFeatures]` layout. The bias is copied into `y` first and accumulated
    /// with beta = 1, so no second pass over the output is needed.
    public static func linear(_ x: UnsafePointer<Float>, rows: Int, inFeatures: Int,
                               weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, outFeatures: Int,
                               into y: UnsafeMutablePointer<Float>) {
        if let bias {
            for r in 0..<rows { (y + r * outFeatures).update(from: bias, count: outFeatures) }
        }
        sgemm(transposeB: true, m: rows, n: outFeatures, k: inFeatures,
              a: x, lda: inFeatures, b: weight, ldb: inFeatures,
              beta: bias == nil ? 0 : 1, c: y, ldc: outFeatures)
    }
}

extension Tensor {
    /// Matrix product of the last two dimensions, batched over any leading ones (which must match,
    /// or one side may be rank 2 and is then shared). `transposeA`/`transposeB` transpose each
    /// operand's last two dimensions.
    public static func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
        precondition(a.rank >= 2 && b.rank >= 2, "matmul needs rank ≥ 2, got \(a.shape) and \(b.shape)")
        let (ar, ac) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
        let (br, bc) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
        let (m, k) = transposeA ? (ac, ar) : (ar, ac)
        let (k2, n) = transposeB ? (bc, br) : (br, bc)
        precondition(k == k2, "matmul inner dimensions differ: \(a.shape)\(transposeA ? "ᵀ" : "") × \(b.shape)\(transposeB ? "ᵀ" : "")")
        let aBatch = Array(a.shape.dropLast(2)), bBatch = Array(b.shape.dropLast(2))
        precondition(aBatch == bBatch || aBatch.isEmpty || bBatch.isEmpty,
                     "matmul batch dimensions differ: \(a.shape) × \(b.shape)")
        let batchShape = aBatch.isEmpty ? bBatch : aBatch
        let batch = batchShape.reduce(1, *)
        let aStride = aBatch.isEmpty ? 0 : ar * ac, bStride = bBatch.isEmpty ? 0 : br * bc
        return Tensor(shape: batchShape + [m, n]) { out in
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    for i in 0..<batch {
                        BLAS.sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                                   a: pa.baseAddress! + i * aStride, lda: ac,
                                   b: pb.baseAddress! + i * bStride, ldb: bc,
                                   c: out.baseAddress! + i * m * n, ldc: n)
                    }
                }
            }
        }
    }

    /// PyTorch `nn.Linear`: `x[..., in]·weightᵀ + bias` with `weight [out, in]`.
    public func linear(weight: Tensor, bias: Tensor?) -> Tensor {
        precondition(weight.rank == 2 && shape.last == weight.shape[1],
                     "linear: input \(shape) does not match weight \(weight.shape)")
        let outFeatures = weight.shape[0], inFeatures = weight.shape[1]
        precondition(bias == nil || bias!.count == outFeatures, "linear: bias \(bias!.shape) for \(outFeatures) outputs")
        let rows = count / max(inFeatures, 1)
        return Tensor(shape: Array(shape.dropLast()) + [outFeatures]) { out in
            withUnsafeBufferPointer { x in
                weight.withUnsafeBufferPointer { w in
                    if let bias {
                        bias.withUnsafeBufferPointer { b in
                            BLAS.linear(x.baseAddress!, rows: rows, inFeatures: inFeatures, weight: w.baseAddress!,
                                        bias: b.baseAddress!, outFeatures: outFeatures, into: out.baseAddress!)
                        }
                    } else {
                        BLAS.linear(x.baseAddress!, rows: rows, inFeatures: inFeatures, weight: w.baseAddress!,
                                    bias: nil, outFeatures: outFeatures, into: out.baseAddress!)
                    }
                }
            }
        }
    }
}

/// Row-major single-precision GEMM and the products built on it (`GEMM.swift` holds the kernel
/// dispatch). `op(A)` is `m×k`, `op(B)` is `k×n`, `C` is `m×n`; leading dimensions are row strides,
/// so a head's slice of a packed `[N, 3·C]` QKV buffer can be passed without copying.
extension BLAS {
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

import Tensor

extension DinoVisionTransformer {
    public typealias LayerNorm = Models.LayerNorm

    /// `nn.Linear(in, out)` with PyTorch's `[out, in]` weight, prepared once for the GEMM kernel
    /// (packed for AVX-512 where available; see `PackedLinearWeights`).
    public struct Linear: Sendable {
        public let weight: PackedLinearWeights
        public let bias: Tensor?
        public var inFeatures: Int { weight.inFeatures }
        public var outFeatures: Int { weight.outFeatures }

        init(_ w: Weights, in inFeatures: Int, out outFeatures: Int, bias hasBias: Bool = true) throws {
            weight = PackedLinearWeights(try w("weight", shape: [outFeatures, inFeatures]))
            bias = hasBias ? try w("bias", shape: [outFeatures]) : nil
        }

        public func callAsFunction(_ x: Tensor) -> Tensor { weight(x, bias: bias) }

        func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
            if let bias {
                bias.withUnsafeBufferPointer { b in weight.apply(x, rows: rows, bias: b.baseAddress, into: y) }
            } else {
                weight.apply(x, rows: rows, bias: nil, into: y)
            }
        }
    }

    /// `LayerScale`: `x · gamma` per channel. Applied fused into the residual add
    /// (`x += gamma · branch`), which is all the blocks ever do with it.
    public struct LayerScale: Sendable {
        public let gamma: Tensor

        init(_ w: Weights, dim: Int) throws { gamma = try w("gamma", shape: [dim]) }

        public func callAsFunction(_ x: Tensor) -> Tensor {
            var out = x
            let d = gamma.count
            for i in 0..<out.count { out.storage[i] *= gamma.storage[i % d] }
            return out
        }

        /// `residual[r, :] += gamma · branch[r, :]` for every row.
        func addScaled(_ branch: UnsafePointer<Float>, rows: Int, to residual: UnsafeMutablePointer<Float>) {
            let d = gamma.count
            gamma.withUnsafeBufferPointer { g in
                nonisolated(unsafe) let (g, src, dst) = (g.baseAddress!, branch, residual)
                ComputeThreads.parallelFor(rows) { r in
                    let x = dst + r * d, y = src + r * d
                    for j in 0..<d { x[j] += g[j] * y[j] }
                }
            }
        }
    }
}

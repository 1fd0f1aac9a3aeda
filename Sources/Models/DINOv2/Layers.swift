import Tensor

extension DinoVisionTransformer {
    public typealias LayerNorm = Models.LayerNorm

    /// DINOv2's projections are applied 12 times per image: packed once.
    public typealias Linear = PackedLinear

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

import Tensor

/// `nn.LayerNorm(dim, eps)` over the last dimension (eps 1e-6 in DINOv2 and Hiera, 1e-5 in the
/// SAM 2 transformers: callers pass theirs).
public struct LayerNorm: Sendable {
    public let weight: Tensor
    public let bias: Tensor
    public let eps: Float

    public init(_ w: ModuleWeights, dim: Int, eps: Float = 1e-6) throws {
        weight = try w("weight", shape: [dim])
        bias = try w("bias", shape: [dim])
        self.eps = eps
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { x.layerNorm(weight: weight, bias: bias, eps: eps) }

    public func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
        weight.withUnsafeBufferPointer { w in
            bias.withUnsafeBufferPointer { b in
                Normalization.layerNorm(x, rows: rows, dim: weight.count, weight: w.baseAddress, bias: b.baseAddress,
                                        eps: eps, into: y)
            }
        }
    }
}

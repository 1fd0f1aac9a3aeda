import Tensor

/// SAM 2's `LayerNorm2d`: layer norm over the channels of an NCHW map, eps 1e-6
/// (`sam2_utils.py::LayerNorm2d`).
public struct LayerNorm2d: Sendable {
    public let weight: Tensor
    public let bias: Tensor
    public let eps: Float

    public init(_ w: ModuleWeights, channels: Int, eps: Float = 1e-6) throws {
        weight = try w("weight", shape: [channels])
        bias = try w("bias", shape: [channels])
        self.eps = eps
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { x.layerNorm2d(weight: weight, bias: bias, eps: eps) }
}

import Tensor

/// `nn.Linear(in, out)` with PyTorch's `[out, in]` weight, prepared once for the GEMM kernel
/// (packed for AVX-512 where available; see `PackedLinearWeights`). For layers applied many times
/// per image (DINOv2's blocks, SAM 2's memory attention): `Linear` repacks its weight on every call.
public struct PackedLinear: Sendable {
    public let weight: PackedLinearWeights
    public let bias: Tensor?
    public var inFeatures: Int { weight.inFeatures }
    public var outFeatures: Int { weight.outFeatures }

    public init(_ w: ModuleWeights, in inFeatures: Int, out outFeatures: Int, bias hasBias: Bool = true) throws {
        weight = PackedLinearWeights(try w("weight", shape: [outFeatures, inFeatures]))
        bias = hasBias ? try w("bias", shape: [outFeatures]) : nil
    }

    /// A Linear from a weight `[out, in]` and bias `[out]` computed here rather than read from a checkpoint.
    public init(weight: Tensor, bias: Tensor?) {
        precondition(bias == nil || bias!.count == weight.shape[0], "bias \(bias!.shape) for weight \(weight.shape)")
        self.weight = PackedLinearWeights(weight)
        self.bias = bias
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

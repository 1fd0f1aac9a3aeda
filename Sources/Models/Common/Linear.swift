import Tensor

/// `nn.Linear(in, out)` with PyTorch's `[out, in]` weight.
public struct Linear: Sendable {
    public let weight: Tensor
    public let bias: Tensor?
    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }

    public init(_ w: ModuleWeights, in inFeatures: Int, out outFeatures: Int, bias hasBias: Bool = true) throws {
        weight = try w("weight", shape: [outFeatures, inFeatures])
        bias = hasBias ? try w("bias", shape: [outFeatures]) : nil
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { x.linear(weight: weight, bias: bias) }

    public func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
        weight.withUnsafeBufferPointer { w in
            if let bias {
                bias.withUnsafeBufferPointer { b in
                    BLAS.linear(x, rows: rows, inFeatures: inFeatures, weight: w.baseAddress!, bias: b.baseAddress,
                                outFeatures: outFeatures, into: y)
                }
            } else {
                BLAS.linear(x, rows: rows, inFeatures: inFeatures, weight: w.baseAddress!, bias: nil,
                            outFeatures: outFeatures, into: y)
            }
        }
    }
}

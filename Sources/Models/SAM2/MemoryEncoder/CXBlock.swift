import Tensor

/// `memory_encoder.py::CXBlock` (ConvNeXt block: dim 256, depthwise 7×7 padding 3, layer scale):
/// `x + gamma · pwconv2(GELU(pwconv1(LN2d(dwconv(x)))))`, the pointwise convs being `Linear`s on
/// channels-last tokens (pitfall 27). drop_path is Identity at inference.
public struct CXBlock: Sendable {
    public let dwconv: DepthwiseConv2d
    public let norm: LayerNorm2d
    public let pwconv1: PackedLinear
    public let pwconv2: PackedLinear
    public let gamma: Tensor

    public init(_ w: ModuleWeights, dim: Int = 256, kernelSize: Int = 7, padding: Int = 3) throws {
        dwconv = try DepthwiseConv2d(w.child("dwconv"), channels: dim, kernel: kernelSize, padding: padding)
        norm = try LayerNorm2d(w.child("norm"), channels: dim)
        pwconv1 = try PackedLinear(w.child("pwconv1"), in: dim, out: 4 * dim)
        pwconv2 = try PackedLinear(w.child("pwconv2"), in: 4 * dim, out: dim)
        gamma = try w("gamma", shape: [dim])
    }

    /// `x [1, C, h, w]` → same shape.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let c = x.shape[1], hw = x.count / c
        let y = norm(dwconv(x))
        // permute(0, 2, 3, 1): the MLP runs on [hw, C] tokens.
        var branch = pwconv2(pwconv1(HeadsTensorOps.transpose2d(y, rows: c, cols: hw)).gelu())
        branch.withUnsafeMutableBufferPointer { b in
            gamma.withUnsafeBufferPointer { g in
                for p in 0..<hw { for j in 0..<c { b[p * c + j] = g[j] * b[p * c + j] } }
            }
        }
        return HeadsTensorOps.add(x, HeadsTensorOps.transpose2d(branch, rows: hw, cols: c))
    }
}

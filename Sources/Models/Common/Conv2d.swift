import Tensor

/// `nn.Conv2d` with PyTorch's `[out, in/groups, kh, kw]` weight, zero padding, NCHW.
public struct Conv2d: Sendable {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: (Int, Int)
    public let padding: (Int, Int)
    public let groups: Int

    public init(_ w: ModuleWeights, in inChannels: Int, out outChannels: Int, kernel: Int, stride: Int = 1,
                padding: Int = 0, groups: Int = 1, bias hasBias: Bool = true) throws {
        weight = try w("weight", shape: [outChannels, inChannels / groups, kernel, kernel])
        bias = hasBias ? try w("bias", shape: [outChannels]) : nil
        self.stride = (stride, stride)
        self.padding = (padding, padding)
        self.groups = groups
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        x.conv2d(weight: weight, bias: bias, stride: stride, padding: padding, groups: groups)
    }
}

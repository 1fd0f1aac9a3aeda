import Tensor

/// `memory_encoder.py::MaskDownSampler` (kernel 3, stride 2, padding 1, total stride 16, embed 256):
/// four `Conv(k3,s2,p1) → LayerNorm2d → GELU` stages 1→4→16→64→256 channels (512² → 32²), then a
/// 1×1 conv. Sequential indices 0,1 | 3,4 | 6,7 | 9,10 | 12 (GELUs hold no weights).
public struct MaskDownSampler: Sendable {
    public let stages: [(conv: Conv2d, norm: LayerNorm2d)]
    public let finalConv: Conv2d

    public init(_ w: ModuleWeights, embedDim: Int = 256, kernelSize: Int = 3, stride: Int = 2, padding: Int = 1,
                totalStride: Int = 16) throws {
        let e = w.child("encoder")
        var stages: [(conv: Conv2d, norm: LayerNorm2d)] = []
        var channels = 1, index = 0
        var remaining = totalStride
        while remaining > 1 {
            let next = channels * stride * stride
            stages.append((try Conv2d(e.child("\(index)"), in: channels, out: next, kernel: kernelSize, stride: stride,
                                      padding: padding),
                           try LayerNorm2d(e.child("\(index + 1)"), channels: next)))
            channels = next
            index += 3
            remaining /= stride
        }
        self.stages = stages
        finalConv = try Conv2d(e.child("\(index)"), in: channels, out: embedDim, kernel: 1)
    }

    /// `[1, 1, 512, 512]` → `[1, 256, 32, 32]`.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var y = x
        for stage in stages { y = stage.norm(stage.conv(y)).gelu() }
        return finalConv(y)
    }
}

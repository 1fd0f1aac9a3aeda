import Tensor

/// A channels-last feature map of one image: `data [height·width, channels]`, token `y·width + x`.
///
/// Hiera runs NHWC (spec §2.5), so every token's channels are one contiguous row and each
/// `Linear` is a single GEMM over the whole map. The batch dimension (always 1 in FSSAM) is dropped.
public struct TokenMap: Sendable {
    public var data: Tensor
    public let height: Int
    public let width: Int
    public var channels: Int { data.shape[1] }
    public var tokens: Int { height * width }

    public init(data: Tensor, height: Int, width: Int) {
        precondition(data.rank == 2 && data.shape[0] == height * width,
                     "TokenMap: \(data.shape) is not [\(height)·\(width), C]")
        self.data = data
        self.height = height
        self.width = width
    }

    /// The map as NCHW without the batch: `[channels, height, width]` (the layout of the trunk
    /// outputs after `permute(0, 3, 1, 2)`).
    public func channelsFirst() -> Tensor {
        let (n, c) = (tokens, channels)
        return Tensor(shape: [c, height, width]) { out in
            data.withUnsafeBufferPointer { src in
                HieraKernels.transpose(src.baseAddress!, rows: n, columns: c, into: out.baseAddress!)
            }
        }
    }
}

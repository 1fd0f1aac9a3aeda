/// A decoded 8-bit RGB image, rows top to bottom, pixels interleaved (HWC), as OpenCV's
/// `imread(IMREAD_COLOR)` followed by `cvtColor(BGR2RGB)` gives it to the authors' code.
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public let pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "RGB image \(width)x\(height) needs \(width * height * 3) bytes, got \(pixels.count)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }
}

import Tensor

/// Turns decoded images and masks into what the network takes at its 512×512 input size, exactly
/// as the authors' test-time data pipeline does (spec §3): OpenCV INTER_LINEAR on float32 for
/// images, INTER_NEAREST for labels, no aspect-ratio preservation, no padding.
public enum ModelInput {
    public static let size = 512

    /// `[3, size, size]` float RGB in 0…255 (not normalised: each encoder normalises its own way).
    public static func image(_ rgb: RGBImage, size: Int = ModelInput.size) -> Tensor {
        let hwc = Tensor(shape: [rgb.height, rgb.width, 3]) { out in
            for i in 0..<rgb.pixels.count { out[i] = Float(rgb.pixels[i]) }
        }
        let resized = OpenCVResize.linear(hwc, height: size, width: size)
        return Tensor(shape: [3, size, size]) { out in
            resized.withUnsafeBufferPointer { src in
                for p in 0..<(size * size) {
                    for c in 0..<3 { out[c * size * size + p] = src[p * 3 + c] }
                }
            }
        }
    }

    /// A support label at `size`×`size` with values 0 (background), 1 (target) and 255 (ignore),
    /// from a user mask where any nonzero value is target, except `ignoreValue`, which is ignore
    /// (background for the model, as the authors treat 255 in label files).
    ///
    /// Throws when the mask does not fit its image or has no target pixel — at the original size
    /// or after resizing (a target thinner than the resampling step vanishes).
    public static func supportLabel(_ mask: LabelImage, imageWidth: Int, imageHeight: Int, ignoreValue: UInt16?,
                                    size: Int = ModelInput.size) throws -> [UInt8] {
        guard mask.width == imageWidth && mask.height == imageHeight else {
            throw SupportMaskError.sizeMismatch(mask: (mask.width, mask.height), image: (imageWidth, imageHeight))
        }
        var targetPixels = 0
        let label: [UInt8] = mask.values.map { value in
            if let ignoreValue, value == ignoreValue { return 255 }
            if value != 0 { targetPixels += 1; return 1 }
            return 0
        }
        guard targetPixels > 0 else { throw SupportMaskError.noTarget(afterResize: false) }
        let resized = OpenCVResize.nearest(label, height: mask.height, width: mask.width, toHeight: size, toWidth: size)
        guard resized.contains(1) else { throw SupportMaskError.noTarget(afterResize: true) }
        return resized
    }
}

/// Why a support mask cannot be used; support problems stop a run before any work.
public enum SupportMaskError: Error, Equatable, Sendable, CustomStringConvertible {
    case sizeMismatch(mask: (Int, Int), image: (Int, Int))
    case noTarget(afterResize: Bool)

    public static func == (a: SupportMaskError, b: SupportMaskError) -> Bool { a.description == b.description }

    public var description: String {
        switch self {
        case .sizeMismatch(let m, let i):
            "the mask is \(m.0)x\(m.1) but its image is \(i.0)x\(i.1); a support mask must have its image's size"
        case .noTarget(false):
            "the mask has no target pixel (every value is 0 or the ignore value)"
        case .noTarget(true):
            "the mask's target is too thin to survive resizing to \(ModelInput.size)x\(ModelInput.size) (nearest sampling drops it)"
        }
    }
}

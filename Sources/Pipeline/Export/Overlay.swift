/// A picture for people checking results: the image with target pixels tinted half red and the
/// mask's boundary drawn in solid red, so thin or small targets remain visible.
public enum Overlay {
    public static let tint: (r: UInt8, g: UInt8, b: UInt8) = (255, 0, 0)

    /// Interleaved RGB pixels of the overlay. `mask` is row-major at the image's size, nonzero = target.
    public static func pixels(image: RGBImage, mask: [UInt8]) throws -> [UInt8] {
        let (w, h) = (image.width, image.height)
        guard mask.count == w * h else {
            throw PipelineError("overlay", "mask has \(mask.count) pixels, image is \(w)x\(h) (\(w * h))")
        }
        var out = image.pixels
        for y in 0..<h {
            for x in 0..<w where mask[y * w + x] != 0 {
                let o = 3 * (y * w + x)
                if isBoundary(mask, x, y, w, h) {
                    out[o] = tint.r; out[o + 1] = tint.g; out[o + 2] = tint.b
                } else {
                    // Rounded 50% blend; integer maths keeps the overlay identical on every machine.
                    out[o] = UInt8((Int(out[o]) + Int(tint.r) + 1) / 2)
                    out[o + 1] = UInt8((Int(out[o + 1]) + Int(tint.g) + 1) / 2)
                    out[o + 2] = UInt8((Int(out[o + 2]) + Int(tint.b) + 1) / 2)
                }
            }
        }
        return out
    }

    /// The overlay as PNG bytes.
    public static func png(image: RGBImage, mask: [UInt8]) throws -> [UInt8] {
        try ImageEncoder.png(width: image.width, height: image.height, bands: 3, pixels: pixels(image: image, mask: mask))
    }

    /// A target pixel with a 4-neighbour outside the target; the image edge counts as outside,
    /// so a target touching the border is still outlined.
    static func isBoundary(_ mask: [UInt8], _ x: Int, _ y: Int, _ w: Int, _ h: Int) -> Bool {
        if x == 0 || y == 0 || x == w - 1 || y == h - 1 { return true }
        return mask[y * w + x - 1] == 0 || mask[y * w + x + 1] == 0 || mask[(y - 1) * w + x] == 0 || mask[(y + 1) * w + x] == 0
    }
}

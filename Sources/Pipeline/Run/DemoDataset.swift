/// The synthetic dataset of `fssam demo` (and the bulk benchmark): textured backgrounds with one
/// bright disk each — the support with its mask, the queries with the disk moved and resized.
/// Deterministic, so two demos write the same files.
public enum DemoDataset {
    public static let size = 96

    /// Writes `support.png`, `support-mask.png` and `queries/q<i>.png` under `folder` (existing
    /// files with the same content are simply rewritten) and returns the support pair.
    @discardableResult
    public static func write(to folder: String, queries: Int, size: Int = DemoDataset.size) throws -> Episode.SupportFiles {
        let support = Episode.SupportFiles(image: folder + "/support.png", mask: folder + "/support-mask.png")
        let (image, mask) = scene(size: size, centre: (0.45, 0.5), radius: 0.22, seed: 0)
        try AtomicFile.write(try ImageEncoder.png(width: size, height: size, bands: 3, pixels: image), to: support.image)
        try AtomicFile.write(try ImageEncoder.png(width: size, height: size, bands: 1, pixels: mask), to: support.mask)
        for i in 0..<queries {
            let t = Double(i % 17) / 17
            let (pixels, _) = scene(size: size, centre: (0.25 + 0.5 * t, 0.7 - 0.4 * t), radius: 0.12 + 0.1 * Double(i % 3) / 2,
                                    seed: i + 1)
            try AtomicFile.write(try ImageEncoder.png(width: size, height: size, bands: 3, pixels: pixels),
                                 to: folder + "/queries/q\(i).png")
        }
        return support
    }

    /// RGB pixels and a 0/255 mask of a disk at `centre` (fractions of the side) on a textured background.
    static func scene(size: Int, centre: (Double, Double), radius: Double, seed: Int) -> (image: [UInt8], mask: [UInt8]) {
        var image = [UInt8](repeating: 0, count: size * size * 3), mask = [UInt8](repeating: 0, count: size * size)
        let (cx, cy, r) = (centre.0 * Double(size), centre.1 * Double(size), radius * Double(size))
        for y in 0..<size {
            for x in 0..<size {
                let dx = Double(x) - cx, dy = Double(y) - cy
                let inside = dx * dx + dy * dy <= r * r
                let o = (y * size + x) * 3
                if inside {
                    mask[y * size + x] = 255
                    image[o] = 230; image[o + 1] = UInt8(60 + (x + y) % 20); image[o + 2] = 40
                } else {
                    let v = (x * 7 + y * 13 + seed * 31 + (x * y) % 11) % 90
                    image[o] = UInt8(40 + v); image[o + 1] = UInt8(70 + v / 2); image[o + 2] = UInt8(90 + (v * 3) % 60)
                }
            }
        }
        return (image, mask)
    }
}

import Pipeline

// Fuzz targets for image decoding (headers through decode, masks and labels). A 4-megapixel limit
// keeps a mutated header from making us allocate gigabytes: the limit is checked on the header,
// before any pixel is decoded, as in a run.
extension FuzzTarget {
    static let fuzzDecoder = ImageDecoder(maxPixels: 4_000_000)

    static let imageTargets: [FuzzTarget] = [
        FuzzTarget(name: "image") { input, _ in _ = try fuzzDecoder.decode(input) },
        FuzzTarget(name: "mask") { input, _ in _ = try fuzzDecoder.decodeLabel(input) },
    ]
}

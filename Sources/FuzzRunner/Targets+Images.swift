// Fuzz targets for image decoding (headers through decode, masks and labels).
extension FuzzTarget {
    static let imageTargets: [FuzzTarget] = []
}

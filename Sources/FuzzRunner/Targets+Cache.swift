// Fuzz targets for the LMDB cache file (data.mdb mutated, then opened, verified and read).
extension FuzzTarget {
    static let cacheTargets: [FuzzTarget] = []
}

// Fuzz targets for the checkpoint readers (pickle / zip / safetensors). Filled in by the
// parser hardening work; each reads its input as a file of the right extension from `scratch`.
extension FuzzTarget {
    static let checkpointTargets: [FuzzTarget] = []
}

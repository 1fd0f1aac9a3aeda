// Fuzz targets for the text files fssam parses: pipeline files, support sets, manifests, list files.
extension FuzzTarget {
    static let pipelineFileTargets: [FuzzTarget] = []
}

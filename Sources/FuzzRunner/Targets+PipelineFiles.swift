import Foundation
import Pipeline

// Fuzz targets for the text files fssam parses: pipeline files and support sets (YAML, and JSON,
// which goes through the same reader but mutates differently). Manifests and list files are
// added beside these by their owners.
extension FuzzTarget {
    static let pipelineFileTargets: [FuzzTarget] = [
        // The loader and validator, then what `fssam run --pipeline` does with the definition.
        FuzzTarget(name: "pipeline-file") { input, scratch in
            let path = try write(input, to: scratch, name: "pipeline.yaml")
            let definition = try PipelineFileLoader().load(path: path)
            _ = try RunParameters(pipeline: definition)
        },
        FuzzTarget(name: "support-set-yaml") { input, scratch in
            _ = try SupportSetFile.load(path: try write(input, to: scratch, name: "supports.yaml"))
        },
        FuzzTarget(name: "support-set-json") { input, scratch in
            _ = try SupportSetFile.load(path: try write(input, to: scratch, name: "supports.json"))
        },
    ]
}

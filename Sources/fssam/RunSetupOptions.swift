import ArgumentParser
import Foundation
import Pipeline

/// What defines a run besides its supports and weights: the query inputs, the cache, the
/// pipeline file and parameter overrides. Shared by `fssam run` and `fssam explain`, so an item
/// is explained under exactly the keys its run uses.
struct RunSetupOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Folder of query images (searched recursively: jpg, jpeg, png, webp, tif).", valueName: "dir"))
    var queries: String?

    @Option(help: ArgumentHelp("JSON-lines or CSV manifest of query images (id, path, optional sha256).", valueName: "file"))
    var manifest: String?

    @Option(help: ArgumentHelp("Cache directory (default: $FSSAM_CACHE, else ./Cache).", valueName: "dir"))
    var cache: String?

    @Option(help: ArgumentHelp("Pipeline file (default: the built-in FSSAM pipeline, as Pipelines/fssam.yaml).", valueName: "file"))
    var pipeline: String?

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a stage parameter, e.g. imr.iterations=2 (repeatable).",
                                                         valueName: "stage.param=value"))
    var overrides: [String] = []

    func validate() throws {
        guard (queries == nil) != (manifest == nil) else { throw ValidationError("give exactly one of --queries DIR or --manifest FILE") }
    }

    var cacheDirectory: String {
        get throws { try fssam.cacheDirectory(cache) }
    }

    /// The query items (a missing folder or an unreadable manifest stops here, before any work).
    /// A folder walk never enters the cache folder, nor `outputDirectory` (a run's `--out`), when
    /// they lie inside `--queries`: a run must not list its own masks as inputs.
    func listing(outputDirectory: String? = nil) throws -> QueryListing {
        if let queries {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: queries, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw CLIError("--queries \(queries): not a folder")
            }
            return .directory(DirectoryListing(root: queries, excluding: [try cacheDirectory] + (outputDirectory.map { [$0] } ?? [])))
        }
        return .manifest(try ManifestListing(path: manifest!))
    }

    /// Where the items come from, by absolute path: part of what an output folder belongs to.
    var inputDescription: String {
        let (kind, path) = queries.map { ("queries", $0) } ?? ("manifest", manifest!)
        return kind + " " + URL(fileURLWithPath: path).resolvingSymlinksInPath().standardizedFileURL.path
    }

    /// The pipeline file (if any) and the run parameters with the overrides applied.
    func parameters() throws -> (definition: PipelineDefinition?, parameters: RunParameters) {
        let definition = try pipeline.map { try PipelineFileLoader().load(path: $0) }
        return (definition, try RunParameters(pipeline: definition, overrides: try overrides.map { try PipelineOverride.parse($0) }))
    }
}

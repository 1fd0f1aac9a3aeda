import UntrustedInput
import Yams

/// Reads a pipeline YAML file into a validated `PipelineDefinition`.
///
/// Format (see Pipelines/README.md):
/// ```yaml
/// name: fssam
/// stages:
///   - name: imr                      # unique; `kind` defaults to the name
///     kind: imr
///     inputs: {memory: memory_encode, priors: priors}
///     parameters: {iterations: 3}
///     persistence: persist           # or {support: persist, query: recompute}
/// ```
/// Pipeline files are untrusted input: they are read through `YAMLDocument` (regular file, size,
/// nesting, node count and repeated keys bounded before Yams composes), and every problem becomes
/// a `PipelineFileError` with file and line, never a crash.
public struct PipelineFileLoader: Sendable {
    public static let maxFileBytes = InputLimits.maxTextFileBytes
    public static let maxNodes = InputLimits.maxNodes
    public static let maxNesting = InputLimits.maxNesting

    public let catalog: StageCatalog

    public init(catalog: StageCatalog = .fssam) {
        self.catalog = catalog
    }

    /// Loads and validates `path`. Throws `PipelineFileErrors` holding every problem found.
    public func load(path: String) throws -> PipelineDefinition {
        let root: Node
        do { root = try YAMLDocument.load(path: path, what: "pipeline file") } catch let error as YAMLDocumentError {
            throw PipelineFileErrors([Self.fileError(error)])
        }
        return try validate(root, path: path)
    }

    /// Loads and validates YAML text; `path` is only used in error locations.
    public func load(yaml text: String, path: String) throws -> PipelineDefinition {
        let root: Node
        do { root = try YAMLDocument.parse(text, path: path, what: "pipeline file") } catch let error as YAMLDocumentError {
            throw PipelineFileErrors([Self.fileError(error)])
        }
        return try validate(root, path: path)
    }

    private func validate(_ root: Node, path: String) throws -> PipelineDefinition {
        var reader = PipelineFileReader(path: path)
        let entries = reader.read(root)
        var validator = PipelineValidator(path: path, catalog: catalog)
        validator.errors = reader.errors
        let stages = validator.validate(entries)
        // File order (line, then column), ties kept in the order found: reads like the file.
        let errors = validator.errors.enumerated().sorted { a, b in
            let keyA = (a.element.line ?? 0, a.element.column ?? 0, a.offset)
            let keyB = (b.element.line ?? 0, b.element.column ?? 0, b.offset)
            return keyA < keyB
        }.map(\.element)
        guard errors.isEmpty else { throw PipelineFileErrors(errors) }
        return PipelineDefinition(path: path, stages: stages)
    }

    private static func fileError(_ error: YAMLDocumentError) -> PipelineFileError {
        let kind: PipelineFileError.Kind
        switch error.kind {
        case .unreadable: kind = .unreadable
        case .tooLarge: kind = .tooLarge
        case .syntax: kind = .syntax
        case .structure: kind = .structure
        }
        return PipelineFileError(kind, at: .file(path: error.path, line: error.line, column: error.column), error.reason)
    }
}

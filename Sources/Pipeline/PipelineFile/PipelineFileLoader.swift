import Foundation
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
/// Pipeline files are untrusted input: size, nesting and node count are bounded before and while
/// parsing, and every problem becomes a `PipelineFileError` with file and line, never a crash.
public struct PipelineFileLoader: Sendable {
    /// 1 MiB: a real pipeline file is a few kB; anything near this is a mistake or an attack.
    public static let maxFileBytes = 1 << 20
    /// Bounds the tree after alias expansion (`&a [*b, *b, ...]` bombs share nodes in memory but
    /// would make every walk exponential).
    public static let maxNodes = 20_000
    /// Yams composes recursively; deep nesting would overflow the stack before it could report.
    public static let maxNesting = 64

    public let catalog: StageCatalog

    public init(catalog: StageCatalog = .fssam) {
        self.catalog = catalog
    }

    /// Loads and validates `path`. Throws `PipelineFileErrors` holding every problem found.
    public func load(path: String) throws -> PipelineDefinition {
        let url = URL(fileURLWithPath: path)
        let location = PipelineFileError.Location.file(path: path, line: nil, column: nil)
        let size: Int
        let data: Data
        do {
            size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
            if size > Self.maxFileBytes { throw PipelineFileErrors([Self.tooLarge(size, at: location)]) }
            let handle = try FileHandle(forReadingFrom: url)
            defer { try? handle.close() }
            // Read one byte past the limit: the file may have grown since the size check.
            data = try handle.read(upToCount: Self.maxFileBytes + 1) ?? Data()
        } catch let errors as PipelineFileErrors {
            throw errors
        } catch {
            throw PipelineFileErrors([PipelineFileError(.unreadable, at: location, "cannot read: \(error.localizedDescription)")])
        }
        if data.count > Self.maxFileBytes { throw PipelineFileErrors([Self.tooLarge(data.count, at: location)]) }
        guard let text = String(data: data, encoding: .utf8) else {
            throw PipelineFileErrors([PipelineFileError(.unreadable, at: location, "not UTF-8 text")])
        }
        return try load(yaml: text, path: path)
    }

    /// Loads and validates YAML text; `path` is only used in error locations.
    public func load(yaml text: String, path: String) throws -> PipelineDefinition {
        let fileLocation = PipelineFileError.Location.file(path: path, line: nil, column: nil)
        if text.utf8.count > Self.maxFileBytes { throw PipelineFileErrors([Self.tooLarge(text.utf8.count, at: fileLocation)]) }
        if let error = Self.nestingProblem(in: text, path: path) { throw PipelineFileErrors([error]) }

        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw PipelineFileErrors([Self.syntaxError(error, path: path)])
        } catch {
            throw PipelineFileErrors([PipelineFileError(.syntax, at: fileLocation, "YAML: \(error)")])
        }
        guard let root else {
            throw PipelineFileErrors([PipelineFileError(.structure, at: fileLocation, "empty file: expected a mapping with `stages`")])
        }
        var budget = Self.maxNodes
        guard Self.countNodes(root, budget: &budget) else {
            throw PipelineFileErrors([PipelineFileError(.tooLarge, at: fileLocation,
                "more than \(Self.maxNodes) YAML nodes (after alias expansion): refused")])
        }
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

    private static func tooLarge(_ size: Int, at location: PipelineFileError.Location) -> PipelineFileError {
        PipelineFileError(.tooLarge, at: location, "file is \(size) bytes; pipeline files are limited to \(maxFileBytes) bytes")
    }

    private static func syntaxError(_ error: YamlError, path: String) -> PipelineFileError {
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
             let .composer(context, problem, mark, _):
            let what = context.map { "\($0.text) — \(problem)" } ?? problem
            return PipelineFileError(.syntax, at: .file(path: path, line: mark.line, column: mark.column),
                                     "YAML syntax error: \(what)")
        default:
            return PipelineFileError(.syntax, at: .file(path: path, line: nil, column: nil), "YAML syntax error: \(error)")
        }
    }

    /// Cheap pre-scan: flow brackets (`[[[[`) and block indentation (including `- - -` chains) both
    /// nest; either beyond `maxNesting` is refused before Yams recurses into it. Brackets inside
    /// quotes count too, which only makes the check stricter.
    static func nestingProblem(in text: String, path: String) -> PipelineFileError? {
        var depth = 0
        var lineNumber = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let prefix = line.prefix { $0 == " " || $0 == "-" || $0 == "\t" }
            let dashes = prefix.filter { $0 == "-" }.count
            if prefix.count > 4 * maxNesting || dashes > maxNesting {
                return PipelineFileError(.structure, at: .file(path: path, line: lineNumber, column: nil),
                                         "nesting deeper than \(maxNesting) levels: refused")
            }
            for character in line {
                if character == "#" { break }
                if character == "[" || character == "{" { depth += 1 }
                if character == "]" || character == "}" { depth = max(0, depth - 1) }
                if depth > maxNesting {
                    return PipelineFileError(.structure, at: .file(path: path, line: lineNumber, column: nil),
                                             "nesting deeper than \(maxNesting) levels: refused")
                }
            }
        }
        return nil
    }

    /// False once more than `budget` nodes have been seen; stops walking at that point.
    private static func countNodes(_ node: Node, budget: inout Int) -> Bool {
        budget -= 1
        if budget < 0 { return false }
        switch node {
        case .scalar: return true
        case let .sequence(sequence):
            for child in sequence where !countNodes(child, budget: &budget) { return false }
            return true
        case let .mapping(mapping):
            for (key, value) in mapping {
                if !countNodes(key, budget: &budget) || !countNodes(value, budget: &budget) { return false }
            }
            return true
        }
    }
}

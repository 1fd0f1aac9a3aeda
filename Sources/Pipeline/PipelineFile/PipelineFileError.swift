/// One problem with a pipeline file or a `--set` override: where it is and why it is wrong.
public struct PipelineFileError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        case unreadable, tooLarge, syntax, structure
        case unknownStageKind, unknownParameter, unknownInput
        case wrongParameterType, parameterOutOfRange
        case missingInput, unknownInputSource, wrongInputType
        case cycle, duplicateStage, unknownPersistence
        case badOverride
    }

    /// A file position (1-based; column when the parser gave one) or the override's own text.
    public enum Location: Sendable, Hashable, CustomStringConvertible {
        case file(path: String, line: Int?, column: Int?)
        case override(String)

        public var description: String {
            switch self {
            case let .file(path, line?, column?): return "\(path):\(line):\(column)"
            case let .file(path, line?, nil): return "\(path):\(line)"
            case let .file(path, nil, _): return path
            case let .override(text): return "--set \(text)"
            }
        }
    }

    public let kind: Kind
    public let location: Location
    public let reason: String

    public init(_ kind: Kind, at location: Location, _ reason: String) {
        self.kind = kind
        self.location = location
        self.reason = reason
    }

    public var line: Int? {
        if case let .file(_, line, _) = location { return line }
        return nil
    }

    public var column: Int? {
        if case let .file(_, _, column) = location { return column }
        return nil
    }

    public var description: String { "\(location): \(reason)" }
}

/// Every problem found in one pipeline file (or one set of overrides), in file order, so a user
/// fixes them in one pass instead of one per run.
public struct PipelineFileErrors: Error, Sendable, CustomStringConvertible {
    public let errors: [PipelineFileError]

    public init(_ errors: [PipelineFileError]) {
        self.errors = errors
    }

    public var description: String { errors.map(\.description).joined(separator: "\n") }
}

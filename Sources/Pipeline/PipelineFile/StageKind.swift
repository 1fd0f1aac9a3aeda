import StageCache

/// One named input of a stage kind and the type it accepts.
public struct InputSpec: Sendable, Hashable {
    public let name: String
    public let type: StageDataType
    /// Optional inputs may be left unwired; required ones are a load error when missing.
    public let required: Bool

    public init(_ name: String, _ type: StageDataType, required: Bool = true) {
        self.name = name
        self.type = type
        self.required = required
    }
}

/// A kind of stage the executor knows how to run: its inputs, output, parameters and defaults.
/// `version` enters the cache key; bump it when the stage's maths changes.
public struct StageKind: Sendable, Hashable {
    public let name: String
    public let version: Int
    public let inputs: [InputSpec]
    public let output: StageDataType
    public let parameters: [ParameterSpec]
    public let defaultPersistence: Persistence
    public let summary: String

    public init(name: String, version: Int, inputs: [InputSpec], output: StageDataType,
                parameters: [ParameterSpec] = [], defaultPersistence: Persistence, summary: String) {
        self.name = name
        self.version = version
        self.inputs = inputs
        self.output = output
        self.parameters = parameters
        self.defaultPersistence = defaultPersistence
        self.summary = summary
    }

    public func input(named name: String) -> InputSpec? { inputs.first { $0.name == name } }
    public func parameter(named name: String) -> ParameterSpec? { parameters.first { $0.name == name } }

    /// Every parameter at its default: the starting point a pipeline file's values override.
    public var defaultParameters: [String: ParameterValue] {
        Dictionary(uniqueKeysWithValues: parameters.map { ($0.name, $0.defaultValue) })
    }
}

import StageCache

/// Where a stage input comes from: another stage's output or a pipeline source.
public enum InputReference: Sendable, Hashable, CustomStringConvertible {
    case stage(String)
    case source(PipelineSource)

    public var description: String {
        switch self {
        case let .stage(name): return name
        case let .source(source): return source.rawValue
        }
    }
}

/// One stage of a loaded pipeline, with catalog defaults already filled in.
public struct StageDefinition: Sendable, Hashable {
    public let name: String
    public let kind: StageKind
    /// Input name (as the kind declares it) → where it comes from.
    public let inputs: [String: InputReference]
    public var parameters: [String: ParameterValue]
    public let persistence: Persistence
    /// Line of the stage's entry in its file (for errors the executor reports later).
    public let line: Int?
}

/// A validated pipeline: stages in file order, every reference resolved, no cycle.
public struct PipelineDefinition: Sendable {
    public let path: String
    public internal(set) var stages: [StageDefinition]

    public func stage(named name: String) -> StageDefinition? { stages.first { $0.name == name } }

    /// Stages so that each comes after every stage it reads from; among stages that are ready at
    /// the same time, file order wins, so the order is deterministic and reads like the file.
    /// Validation has refused cycles, so every stage appears exactly once.
    public var executionOrder: [StageDefinition] {
        var remaining = stages
        var done = Set<String>()
        var order: [StageDefinition] = []
        while !remaining.isEmpty {
            guard let index = remaining.firstIndex(where: { stage in
                stage.inputs.values.allSatisfy { ref in
                    if case let .stage(name) = ref { return done.contains(name) }
                    return true
                }
            }) else {
                preconditionFailure("PipelineDefinition with a cycle: the validator must refuse it")
            }
            let stage = remaining.remove(at: index)
            done.insert(stage.name)
            order.append(stage)
        }
        return order
    }
}

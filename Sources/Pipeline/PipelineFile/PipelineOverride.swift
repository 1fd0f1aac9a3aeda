/// A command-line parameter override, `--set stage.param=value`. The stage part is a stage name
/// from the file (not a kind), so two stages of the same kind can be tuned separately.
public struct PipelineOverride: Sendable, Hashable, CustomStringConvertible {
    public let stage: String
    public let parameter: String
    /// The value as typed; it is typed against the parameter's declaration when applied.
    public let value: String
    /// The whole `stage.param=value` text, quoted back in errors.
    public let text: String

    /// Parses `stage.param=value`. The value may contain `=` and `.` (`export.threshold=0.5`);
    /// a list parameter takes comma-separated items (`export.formats=png,rle`).
    public static func parse(_ text: String) throws -> PipelineOverride {
        guard let equals = text.firstIndex(of: "=") else {
            throw PipelineFileErrors([problem(text, "expected stage.parameter=value")])
        }
        let path = text[..<equals]
        let value = String(text[text.index(after: equals)...])
        guard let dot = path.firstIndex(of: "."), dot != path.startIndex, path.index(after: dot) != path.endIndex
        else {
            throw PipelineFileErrors([problem(text, "expected stage.parameter=value (e.g. imr.iterations=2)")])
        }
        return PipelineOverride(stage: String(path[..<dot]), parameter: String(path[path.index(after: dot)...]),
                                value: value, text: text)
    }

    public var description: String { text }

    static func problem(_ text: String, _ reason: String) -> PipelineFileError {
        PipelineFileError(.badOverride, at: .override(text), reason)
    }
}

extension PipelineDefinition {
    /// The definition with `overrides` applied in order (a later one wins), each checked against the
    /// parameter's declared type and range exactly as a value in the file would be.
    /// Throws `PipelineFileErrors` listing every bad override.
    public func applying(_ overrides: [PipelineOverride]) throws -> PipelineDefinition {
        var result = self
        var errors: [PipelineFileError] = []
        for override in overrides {
            guard let index = result.stages.firstIndex(where: { $0.name == override.stage }) else {
                errors.append(PipelineOverride.problem(override.text, "no stage named `\(override.stage)` in \(path)"
                    + NameSuggestion.hint(for: override.stage, in: stages.map(\.name))))
                continue
            }
            let kind = result.stages[index].kind
            guard let spec = kind.parameter(named: override.parameter) else {
                let known = kind.parameters.map(\.name)
                errors.append(PipelineFileError(.unknownParameter, at: .override(override.text),
                    "unknown parameter `\(override.parameter)` for stage kind `\(kind.name)`"
                    + (known.isEmpty ? " (it takes none)" : NameSuggestion.hint(for: override.parameter, in: known)
                       + "; known: \(known.joined(separator: ", "))")))
                continue
            }
            let raw: RawParameterValue
            if case .stringList = spec.type {
                raw = .list(override.value.split(separator: ",", omittingEmptySubsequences: false)
                    .map { .scalar(String($0), quoted: false) })
            } else {
                raw = .scalar(override.value, quoted: false)
            }
            switch spec.typed(raw) {
            case let .success(value): result.stages[index].parameters[spec.name] = value
            case let .failure(.wrongType(reason)):
                errors.append(PipelineFileError(.wrongParameterType, at: .override(override.text), "\(override.stage).\(spec.name): \(reason)"))
            case let .failure(.outOfRange(reason)):
                errors.append(PipelineFileError(.parameterOutOfRange, at: .override(override.text), "\(override.stage).\(spec.name): \(reason)"))
            }
        }
        guard errors.isEmpty else { throw PipelineFileErrors(errors) }
        return result
    }
}

import Yams

/// A value from the file with the position it was written at.
struct Positioned<Value: Sendable>: Sendable {
    let value: Value
    let line: Int?
    let column: Int?
}

/// One `stages:` entry as written, before it is checked against the catalog.
struct StageEntry: Sendable {
    var line: Int?
    var name: Positioned<String>?
    var kind: Positioned<String>?
    var inputs: [(name: Positioned<String>, source: Positioned<String>)] = []
    var parameters: [(name: Positioned<String>, value: Positioned<RawParameterValue>)] = []
    /// Role (`nil` for the short form that covers both) → choice as written.
    var persistence: [(role: Positioned<String>?, choice: Positioned<String>)] = []
}

/// Walks the YAML tree into `StageEntry`s, reporting shape problems (a list where a mapping was
/// expected, unknown keys) with their positions. Catalog checks happen in `PipelineValidator`.
struct PipelineFileReader {
    let path: String
    var errors: [PipelineFileError] = []

    init(path: String) {
        self.path = path
    }

    mutating func read(_ root: Node) -> [StageEntry] {
        guard let mapping = root.mapping else {
            fail(root, "expected a mapping with `stages` at the top level")
            return []
        }
        var entries: [StageEntry] = []
        var sawStages = false
        for (key, value) in mapping {
            switch key.string {
            case "name": _ = scalar(value, "`name`")
            case "stages":
                sawStages = true
                guard let sequence = value.sequence else {
                    fail(value, "`stages` must be a list of stage entries (`- name: ...`)")
                    continue
                }
                for item in sequence { entries.append(readStage(item)) }
            default:
                fail(key, "unknown top-level key `\(key.string ?? "?")`: expected `name` or `stages`"
                     + NameSuggestion.hint(for: key.string ?? "", in: ["name", "stages"]))
            }
        }
        if !sawStages { fail(root, "missing `stages`") }
        return entries
    }

    private mutating func readStage(_ node: Node) -> StageEntry {
        var entry = StageEntry(line: node.mark?.line)
        guard let mapping = node.mapping else {
            fail(node, "a stage entry must be a mapping (`- name: decode ...`)")
            return entry
        }
        let keys = ["name", "kind", "inputs", "parameters", "persistence"]
        for (key, value) in mapping {
            switch key.string {
            case "name": entry.name = scalar(value, "`name`")
            case "kind": entry.kind = scalar(value, "`kind`")
            case "inputs":
                for (inputName, source) in pairs(value, "`inputs`") {
                    if let source = scalar(source, "input `\(inputName.value)`") {
                        entry.inputs.append((inputName, source))
                    }
                }
            case "parameters":
                for (parameterName, raw) in pairs(value, "`parameters`") {
                    entry.parameters.append((parameterName, positioned(raw, rawValue(raw))))
                }
            case "persistence":
                if value.mapping != nil {
                    for (role, choice) in pairs(value, "`persistence`") {
                        if let choice = scalar(choice, "persistence `\(role.value)`") {
                            entry.persistence.append((role, choice))
                        }
                    }
                } else if let choice = scalar(value, "`persistence`") {
                    entry.persistence.append((nil, choice))
                }
            default:
                let name = key.string ?? "?"
                fail(key, "unknown stage key `\(name)`: expected one of \(keys.joined(separator: ", "))"
                     + NameSuggestion.hint(for: name, in: keys))
            }
        }
        if entry.name == nil { fail(node, "stage entry without a `name`") }
        return entry
    }

    private func rawValue(_ node: Node) -> RawParameterValue {
        switch node {
        case let .scalar(scalar): return .scalar(scalar.string, quoted: scalar.style == .singleQuoted || scalar.style == .doubleQuoted)
        case let .sequence(sequence): return .list(sequence.map(rawValue))
        case .mapping: return .map
        }
    }

    /// Key/value pairs of a mapping whose keys are plain names; anything else is reported.
    private mutating func pairs(_ node: Node, _ what: String) -> [(Positioned<String>, Node)] {
        guard let mapping = node.mapping else {
            fail(node, "\(what) must be a mapping of name: value")
            return []
        }
        return mapping.compactMap { key, value in
            guard let name = scalar(key, "a key in \(what)") else { return nil }
            return (name, value)
        }
    }

    private mutating func scalar(_ node: Node, _ what: String) -> Positioned<String>? {
        guard case let .scalar(scalar) = node else {
            fail(node, "\(what) must be a single value, not a list or mapping")
            return nil
        }
        return positioned(node, scalar.string)
    }

    private func positioned<T>(_ node: Node, _ value: T) -> Positioned<T> {
        Positioned(value: value, line: node.mark?.line, column: node.mark?.column)
    }

    private mutating func fail(_ node: Node, _ reason: String) {
        errors.append(PipelineFileError(.structure, at: .file(path: path, line: node.mark?.line, column: node.mark?.column), reason))
    }
}

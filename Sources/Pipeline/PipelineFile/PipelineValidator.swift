import StageCache

/// Checks `StageEntry`s against the catalog and against each other (names, references, types,
/// cycles). Every problem is collected; stages are returned only when there were none.
struct PipelineValidator {
    let path: String
    let catalog: StageCatalog
    var errors: [PipelineFileError] = []

    init(path: String, catalog: StageCatalog) {
        self.path = path
        self.catalog = catalog
    }

    mutating func validate(_ entries: [StageEntry]) -> [StageDefinition] {
        // Pass 1: names, so inputs may refer to stages declared later in the file.
        var firstLine: [String: Int?] = [:]
        var kinds: [String: StageKind] = [:]
        for entry in entries {
            guard let name = entry.name else { continue }
            if let source = PipelineSource(rawValue: name.value) {
                fail(.duplicateStage, name, "stage name `\(name.value)` is reserved for the pipeline source `\(source.rawValue)`")
            } else if let earlier = firstLine[name.value] {
                fail(.duplicateStage, name, "duplicate stage name `\(name.value)` (first declared at line \(earlier.map(String.init) ?? "?"))")
                continue
            }
            firstLine[name.value] = name.line
            let kindName = entry.kind ?? name
            if let kind = catalog.kind(named: kindName.value) {
                kinds[name.value] = kind
            } else {
                fail(.unknownStageKind, kindName, "unknown stage kind `\(kindName.value)`"
                     + NameSuggestion.hint(for: kindName.value, in: catalog.kinds.map(\.name))
                     + (entry.kind == nil ? "; name a known kind with `kind:`" : ""))
            }
        }

        // Pass 2: each stage's parameters, inputs and persistence.
        var stages: [StageDefinition] = []
        var edges: [String: [String]] = [:]
        var seen = Set<String>()
        for entry in entries {
            guard let name = entry.name, seen.insert(name.value).inserted, let kind = kinds[name.value] else { continue }
            let parameters = checkParameters(entry, kind)
            let inputs = checkInputs(entry, kind, stageName: name.value, kinds: kinds, declared: Set(firstLine.keys))
            // Every reference to a declared stage is an edge, even one of the wrong type: a cycle is
            // reported alongside the type error rather than hidden by it.
            edges[name.value] = entry.inputs.map(\.source.value).filter { firstLine[$0] != nil }
            let persistence = checkPersistence(entry, kind)
            stages.append(StageDefinition(name: name.value, kind: kind, inputs: inputs, parameters: parameters,
                                          persistence: persistence, line: entry.line))
        }
        reportCycles(stages: stages, edges: edges)
        return stages
    }

    private mutating func checkParameters(_ entry: StageEntry, _ kind: StageKind) -> [String: ParameterValue] {
        var values = kind.defaultParameters
        for (name, raw) in entry.parameters {
            guard let spec = kind.parameter(named: name.value) else {
                let known = kind.parameters.map(\.name)
                fail(.unknownParameter, name, "unknown parameter `\(name.value)` for stage kind `\(kind.name)`"
                     + (known.isEmpty ? " (it takes none)" : NameSuggestion.hint(for: name.value, in: known)
                        + "; known: \(known.joined(separator: ", "))"))
                continue
            }
            switch spec.typed(raw.value) {
            case let .success(value): values[spec.name] = value
            case let .failure(.wrongType(reason)): fail(.wrongParameterType, raw, "\(kind.name).\(spec.name): \(reason)")
            case let .failure(.outOfRange(reason)): fail(.parameterOutOfRange, raw, "\(kind.name).\(spec.name): \(reason)")
            }
        }
        return values
    }

    private mutating func checkInputs(_ entry: StageEntry, _ kind: StageKind, stageName: String,
                                      kinds: [String: StageKind], declared: Set<String>) -> [String: InputReference] {
        var inputs: [String: InputReference] = [:]
        for (name, source) in entry.inputs {
            guard let spec = kind.input(named: name.value) else {
                fail(.unknownInput, name, "stage kind `\(kind.name)` has no input `\(name.value)`"
                     + NameSuggestion.hint(for: name.value, in: kind.inputs.map(\.name))
                     + "; inputs: \(kind.inputs.map(\.name).joined(separator: ", "))")
                continue
            }
            let reference: InputReference
            let providedType: StageDataType?
            if let pipelineSource = PipelineSource(rawValue: source.value) {
                reference = .source(pipelineSource)
                providedType = pipelineSource.dataType
            } else if declared.contains(source.value) {
                reference = .stage(source.value)
                providedType = kinds[source.value]?.output  // nil: that stage's kind is already reported
            } else {
                let candidates = Array(declared) + PipelineSource.allCases.map(\.rawValue)
                fail(.unknownInputSource, source, "input `\(name.value)` of `\(stageName)` refers to `\(source.value)`, "
                     + "which is neither a stage nor a pipeline source (image, support_mask)"
                     + NameSuggestion.hint(for: source.value, in: candidates.sorted()))
                continue
            }
            if let providedType, providedType != spec.type {
                fail(.wrongInputType, source, "input `\(name.value)` of `\(stageName)` needs \(spec.type), "
                     + "but `\(source.value)` produces \(providedType)")
                continue
            }
            inputs[spec.name] = reference
        }
        for spec in kind.inputs where spec.required && !entry.inputs.contains(where: { $0.name.value == spec.name }) {
            errors.append(PipelineFileError(.missingInput, at: .file(path: path, line: entry.line, column: nil),
                "stage `\(stageName)` is missing its required input `\(spec.name)` (\(spec.type))"))
        }
        return inputs
    }

    private mutating func checkPersistence(_ entry: StageEntry, _ kind: StageKind) -> Persistence {
        var persistence = kind.defaultPersistence
        for (role, written) in entry.persistence {
            guard let choice = PersistenceChoice(rawValue: written.value) else {
                fail(.unknownPersistence, written, "unknown persistence `\(written.value)`: expected persist or recompute"
                     + NameSuggestion.hint(for: written.value, in: PersistenceChoice.allCases.map(\.rawValue)))
                continue
            }
            switch role?.value {
            case nil: persistence = Persistence(choice)
            case "support": persistence.support = choice
            case "query": persistence.query = choice
            case let other?:
                fail(.unknownPersistence, role!, "unknown persistence role `\(other)`: expected support or query"
                     + NameSuggestion.hint(for: other, in: ["support", "query"]))
            }
        }
        return persistence
    }

    /// Depth-first search; each cycle is reported once, at the line of its first stage in file order.
    private mutating func reportCycles(stages: [StageDefinition], edges: [String: [String]]) {
        enum Mark { case visiting, done }
        var marks: [String: Mark] = [:]
        var stack: [String] = []
        var cycles: [[String]] = []
        func visit(_ name: String) {
            marks[name] = .visiting
            stack.append(name)
            for next in edges[name] ?? [] {
                switch marks[next] {
                case .visiting?:
                    cycles.append(Array(stack[stack.lastIndex(of: next)!...]))
                case .done?: break
                case nil: if edges[next] != nil { visit(next) }
                }
            }
            stack.removeLast()
            marks[name] = .done
        }
        for stage in stages where marks[stage.name] == nil { visit(stage.name) }
        let order = Dictionary(uniqueKeysWithValues: stages.enumerated().map { ($1.name, $0) })
        for cycle in cycles {
            // The search follows "reads from"; show it in data-flow order (each stage feeds the next),
            // starting at the stage that comes first in the file.
            let flow = Array(cycle.reversed())
            let start = flow.indices.min { order[flow[$0]]! < order[flow[$1]]! }!
            let rotated = Array(flow[start...] + flow[..<start])
            let line = stages[order[rotated[0]]!].line
            errors.append(PipelineFileError(.cycle, at: .file(path: path, line: line, column: nil),
                "cycle between stages: " + (rotated + [rotated[0]]).joined(separator: " → ") + " (each feeds the next)"))
        }
    }

    private mutating func fail<T>(_ kind: PipelineFileError.Kind, _ at: Positioned<T>, _ reason: String) {
        errors.append(PipelineFileError(kind, at: .file(path: path, line: at.line, column: at.column), reason))
    }
}

import StageCache

/// The stage parameters of one run, typed against the FSSAM catalog, with the defaults filled in.
///
/// Only parameters the executor actually honours may differ from their defaults: a `--set` the
/// model cannot apply would otherwise change the keys (and the run id) without changing the
/// masks — a silent lie. The others are refused with a message naming them.
public struct RunParameters: Sendable, Equatable {
    /// Stage name → parameter name → value (every declared parameter, defaults included).
    public private(set) var values: [String: [String: ParameterValue]]

    /// What the executor can apply today; everything else must stay at its default.
    public static let honoured: Set<String> = ["imr.iterations", "scma.calibration"]

    public init(overrides: [PipelineOverride] = []) throws {
        var values: [String: [String: ParameterValue]] = [:]
        for kind in StageCatalog.fssam.kinds {
            values[kind.name] = Dictionary(uniqueKeysWithValues: kind.parameters.map { ($0.name, $0.defaultValue) })
        }
        for override in overrides {
            guard let kind = StageCatalog.fssam.kind(named: override.stage) else {
                throw PipelineError("--set \(override.text)", "no stage named '\(override.stage)'; stages: "
                                    + StageCatalog.fssam.kinds.map(\.name).joined(separator: ", "))
            }
            guard let spec = kind.parameter(named: override.parameter) else {
                throw PipelineError("--set \(override.text)", "stage '\(kind.name)' has no parameter '\(override.parameter)'"
                                    + (kind.parameters.isEmpty ? "" : "; known: " + kind.parameters.map(\.name).joined(separator: ", ")))
            }
            let raw: RawParameterValue
            if case .stringList = spec.type {
                raw = .list(override.value.split(separator: ",", omittingEmptySubsequences: false)
                    .map { .scalar(String($0), quoted: false) })
            } else {
                raw = .scalar(override.value, quoted: false)
            }
            switch spec.typed(raw) {
            case .success(let value):
                let name = "\(kind.name).\(spec.name)"
                if value != spec.defaultValue && spec.affectsOutput && !Self.honoured.contains(name) {
                    throw PipelineError("--set \(override.text)",
                                        "fssam run cannot apply \(name) yet (it would change keys but not masks); "
                                        + "settable: \(Self.honoured.sorted().joined(separator: ", "))")
                }
                values[kind.name]![spec.name] = value
            case .failure(.wrongType(let why)), .failure(.outOfRange(let why)):
                throw PipelineError("--set \(override.text)", why)
            }
        }
        self.values = values
    }

    public subscript(stage: String) -> [String: ParameterValue] { values[stage] ?? [:] }

    public var refineIterations: Int {
        if case .int(let n) = values["imr"]?["iterations"] { return Int(n) }
        return 3
    }

    public var calibration: String {
        if case .string(let s) = values["scma"]?["calibration"] { return s }
        return "released"
    }

    /// The parameters that change outputs, canonically: `stage.param=value` lines sorted, for the run id.
    var canonicalText: String {
        var lines: [String] = []
        for kind in StageCatalog.fssam.kinds {
            for spec in kind.parameters where spec.affectsOutput {
                lines.append("\(kind.name).\(spec.name)=\(values[kind.name]?[spec.name] ?? spec.defaultValue)")
            }
        }
        return lines.sorted().joined(separator: "\n")
    }
}

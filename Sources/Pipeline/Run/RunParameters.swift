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

    /// Per stage, whether its outputs are kept in the cache (supports and queries apart).
    public private(set) var persistence: [String: Persistence]

    /// The catalog defaults (those of `Pipelines/fssam.yaml`), or `pipeline`'s values, then
    /// `overrides`. `pipeline` must be the FSSAM graph (each catalog stage once, under its kind's
    /// name): the executor runs that graph, so a file that rewires it is refused, not half-honoured.
    public init(pipeline: PipelineDefinition? = nil, overrides: [PipelineOverride] = []) throws {
        var values: [String: [String: ParameterValue]] = [:]
        var persistence: [String: Persistence] = [:]
        for kind in StageCatalog.fssam.kinds {
            values[kind.name] = kind.defaultParameters
            persistence[kind.name] = kind.defaultPersistence
        }
        if let pipeline {
            let names = pipeline.stages.map(\.name).sorted(), expected = StageCatalog.fssam.kinds.map(\.name).sorted()
            guard names == expected, pipeline.stages.allSatisfy({ $0.name == $0.kind.name }) else {
                throw PipelineError(pipeline.path, "fssam run executes the FSSAM graph: one stage of each kind, named "
                                    + "after its kind (\(expected.joined(separator: ", "))); this file has "
                                    + pipeline.stages.map { "\($0.name) (\($0.kind.name))" }.joined(separator: ", "))
            }
            for stage in pipeline.stages {
                values[stage.name] = stage.parameters
                persistence[stage.name] = stage.persistence
            }
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
                values[kind.name]![spec.name] = value
            case .failure(.wrongType(let why)), .failure(.outOfRange(let why)):
                throw PipelineError("--set \(override.text)", why)
            }
        }
        for kind in StageCatalog.fssam.kinds {
            for spec in kind.parameters where spec.affectsOutput && values[kind.name]?[spec.name] != spec.defaultValue {
                let name = "\(kind.name).\(spec.name)"
                guard Self.honoured.contains(name) else {
                    throw PipelineError("\(name)=\(values[kind.name]![spec.name]!)",
                                        "fssam run cannot apply \(name) yet (it would change keys but not masks); "
                                        + "settable: \(Self.honoured.sorted().joined(separator: ", "))")
                }
            }
            // decode and export write to memory and --out, never to the cache.
            if ["decode", "export"].contains(kind.name), persistence[kind.name] != Persistence(.recompute) {
                throw PipelineError("\(kind.name).persistence", "\(kind.name) outputs are not cached; it must be `recompute`")
            }
        }
        self.values = values
        self.persistence = persistence
    }

    /// The parameters with every image's encoder features (DINOv2, SAM 2) persisted, queries as
    /// well as supports: what `fssam eval` runs with, since in an evaluation any image may be a
    /// query in one episode, a support in another, and reappear in another fold run, seed or
    /// sweep — each is then encoded once, ever (≈ 7 MB per distinct image stored).
    public func persistingEncoderFeatures() -> RunParameters {
        var copy = self
        for stage in ["dino_features", "sam2_features"] { copy.persistence[stage] = Persistence(.persist) }
        return copy
    }

    /// Whether `stage`'s outputs on `side` are kept in the cache.
    func persists(_ stage: String, _ side: StageCounters.Side) -> Bool {
        guard let p = persistence[stage] else { return true }
        return (side == .support ? p.support : p.query) == .persist
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

    /// `stage.param` → value text for every parameter that changes outputs (`run.json`).
    public var outputAffectingText: [String: String] {
        var out: [String: String] = [:]
        for kind in StageCatalog.fssam.kinds {
            for spec in kind.parameters where spec.affectsOutput {
                out["\(kind.name).\(spec.name)"] = "\(values[kind.name]?[spec.name] ?? spec.defaultValue)"
            }
        }
        return out
    }

    /// The parameters that change outputs, canonically: `stage.param=value` lines sorted, for the run id.
    var canonicalText: String {
        outputAffectingText.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: "\n")
    }
}

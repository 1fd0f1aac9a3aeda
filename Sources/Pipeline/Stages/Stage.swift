import StageCache

/// A step of the pipeline as the cache sees it: what identifies its output. The executor asks a
/// stage for its key, looks the key up, and only on a miss computes and stores the output.
///
/// The key holds exactly what determines the output bytes (DESIGN.md, "Data flow"): the name, a
/// version bumped when the maths changes, the digest of exactly the weights the stage reads, the
/// parameters that change the output, and the output digests (not the keys) of its inputs.
public protocol Stage: Sendable {
    var name: String { get }
    /// Bump when the stage's maths changes, so no earlier output is taken for a new one.
    var version: Int64 { get }
    /// The checkpoint tensors the stage reads (and no others: a weight it does not read would turn
    /// every re-tune of that weight into a needless miss; one it reads but omits, into a wrong hit).
    var weights: WeightSelection { get }
    /// The parameter declarations (from the pipeline-file catalog); their `affectsOutput` decides
    /// what enters the key.
    var parameterSpecs: [ParameterSpec] { get }

    /// The cache key for one run of the stage. `inputs` maps input names to the output digests of
    /// the upstream results (`BlobDigest`), so an upstream change that yields equal bytes leaves
    /// this key unchanged (early cutoff).
    func key(parameters: [String: ParameterValue], inputs: [String: Digest], weights: StageWeightDigests) -> StageKey
}

extension Stage {
    /// The include-list of `weights`, as checkpoint key prefixes / exact keys.
    public var weightKeyPrefixes: [String] { weights.including }

    public func key(parameters: [String: ParameterValue], inputs: [String: Digest],
                    weights digests: StageWeightDigests) -> StageKey {
        let weightsDigest: Digest?
        if weights.isEmpty {
            weightsDigest = nil
        } else {
            // A table built without this stage is a wiring bug; keying without the weights would
            // let two models share results.
            guard let digest = digests[name] else {
                preconditionFailure("no weights digest for stage '\(name)': build StageWeightDigests with it")
            }
            weightsDigest = digest
        }
        return StageKey(stage: name, version: version, weightsDigest: weightsDigest,
                        parameters: keyParameters(parameters), inputs: inputs)
    }

    /// The parameters that enter the key: every declared parameter that affects the output, at its
    /// given value or else its default (so writing a default out and leaving it implicit are the
    /// same key). Speed-only declared parameters and undeclared settings (threads, batch size:
    /// the pipeline validator refuses undeclared names in files, so here they can only be executor
    /// settings) are left out.
    public func keyParameters(_ parameters: [String: ParameterValue]) -> [String: ParameterValue] {
        var out: [String: ParameterValue] = [:]
        for spec in parameterSpecs where spec.affectsOutput {
            out[spec.name] = parameters[spec.name] ?? spec.defaultValue
        }
        return out
    }
}

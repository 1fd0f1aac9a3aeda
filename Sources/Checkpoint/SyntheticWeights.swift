import Dispatch
import Tensor

/// Deterministic stand-in weights, "fssam-synth-v1" (spec: shared/fixtures/README.md). The parity
/// fixtures were computed with exactly these values, so generation must be bit-exact: each value is
/// `float32(float32(scale * t) + offset)` with `t` drawn from splitmix64 seeded by FNV1a64(key).
public struct SyntheticWeights: Sendable, Equatable, CustomStringConvertible {
    public static let version = "fssam-synth-v1"

    /// XORed into every per-key seed; 0 reproduces the fixtures.
    public let globalSeed: UInt64

    public init(globalSeed: UInt64 = 0) {
        self.globalSeed = globalSeed
    }

    public var description: String { globalSeed == 0 ? "synthetic" : "synthetic:\(globalSeed)" }

    /// `synthetic` or `synthetic:SEED` (decimal or 0x-hex) → generator; any other text → nil (it is a
    /// path). A malformed seed is an error rather than a silent fallback to a file name.
    public static func parse(_ text: String) throws -> SyntheticWeights? {
        if text == "synthetic" { return SyntheticWeights() }
        guard text.hasPrefix("synthetic:") else { return nil }
        let seedText = text.dropFirst("synthetic:".count)
        let seed: UInt64?
        if seedText.hasPrefix("0x") || seedText.hasPrefix("0X") {
            seed = UInt64(seedText.dropFirst(2), radix: 16)
        } else {
            seed = UInt64(seedText)
        }
        guard let seed else {
            throw CheckpointError(text, "synthetic weight seed '\(seedText)' is not a decimal or 0x-hex 64-bit integer")
        }
        return SyntheticWeights(globalSeed: seed)
    }

    // MARK: Rules

    /// One row of the rule table: the id (R0–R7), and the float32 scale and offset.
    public struct Rule: Sendable, Equatable {
        public let id: String
        public let scale: Float
        public let offset: Float
    }

    /// R0: hand-picked values so that the reference run exercises the interesting branches.
    public static let overrides: [String: Rule] = [
        "sam_mask_decoder.pred_obj_score_head.layers.2.bias": Rule(id: "R0", scale: 0, offset: 2.0),
        "sam_mask_decoder.iou_prediction_head.layers.2.bias": Rule(id: "R0", scale: 1.0, offset: 0),
        "sam_mask_decoder.output_hypernetworks_mlps.1.layers.2.bias": Rule(id: "R0", scale: 0.05, offset: -0.05),
    ]

    private static let r2Names: Set<Substring> = [
        "cls_token", "mask_token", "pos_embed", "pos_embed_window", "maskmem_tpos_enc",
        "no_mem_embed", "no_mem_pos_enc", "no_obj_ptr",
    ]

    private static let r3Keys: Set<String> = [
        "sam_prompt_encoder.not_a_point_embed.weight", "sam_prompt_encoder.no_mask_embed.weight",
        "sam_mask_decoder.iou_token.weight", "sam_mask_decoder.mask_tokens.weight",
        "sam_mask_decoder.obj_score_token.weight",
    ]

    /// The first matching rule for a model-relative key (no `sam2.`/`module.` prefix), or nil
    /// when none applies (the key is then not one the spec covers).
    public static func rule(for key: String, shape: [Int]) -> Rule? {
        if let rule = overrides[key] { return rule }
        if key.hasSuffix(".gamma") { return Rule(id: "R1", scale: 0.1, offset: 0.25) }
        let lastName = key.split(separator: ".").last ?? Substring(key)
        if r2Names.contains(lastName) { return Rule(id: "R2", scale: 0.05, offset: 0) }
        if r3Keys.contains(key) || isPointEmbedding(key) { return Rule(id: "R3", scale: 0.5, offset: 0) }
        if key.hasSuffix("positional_encoding_gaussian_matrix") { return Rule(id: "R4", scale: 1.0, offset: 0) }
        if key.hasSuffix(".weight") {
            if shape.count >= 2 {
                let fanIn = shape.dropFirst().reduce(1, *)
                // One correctly rounded double division and square root, then one rounding to float32.
                return Rule(id: "R5", scale: Float(1.0 / Double(fanIn).squareRoot()), offset: 0)
            }
            if shape.count == 1 { return Rule(id: "R6", scale: 0.1, offset: 1.0) }
        }
        if key.hasSuffix(".bias") { return Rule(id: "R7", scale: 0.05, offset: 0) }
        return nil
    }

    /// `sam_prompt_encoder.point_embeddings.N.weight` for a decimal N.
    private static func isPointEmbedding(_ key: String) -> Bool {
        let prefix = "sam_prompt_encoder.point_embeddings.", suffix = ".weight"
        guard key.hasPrefix(prefix), key.hasSuffix(suffix), key.count > prefix.count + suffix.count else { return false }
        let middle = key.dropFirst(prefix.count).dropLast(suffix.count)
        return middle.allSatisfy(\.isASCII) && middle.allSatisfy(\.isNumber)
    }

    // MARK: Values

    public func seed(for key: String) -> UInt64 { FNV1a64.hash(key) ^ globalSeed }

    /// Value `i` of the stream with `seed`, mapped through `rule`.
    @inline(__always)
    static func value(seed: UInt64, index i: UInt64, scale: Float, offset: Float) -> Float {
        let z = SplitMix64.output(seed: seed, index: i)
        let k = Int64(z >> 40) * 2 - (1 << 24)          // even integer in [-2^24, 2^24 - 2]
        let t = Float(k) * 0x1p-24                       // exact: |k| < 2^25 fits float32's significand
        // Two separate float32 roundings, as the spec requires. Swift emits plain fmul/fadd without
        // contraction flags, so LLVM may not fuse these into an FMA; the bit-exact tests would catch it.
        let product = scale * t
        return product + offset
    }

    /// Fills `out` with the values of `key` (elements `start ..< start + out.count` of its stream).
    public func fill(key: String, rule: Rule, start: Int = 0, into out: UnsafeMutableBufferPointer<Float>) {
        let seed = seed(for: key)
        let scale = rule.scale, offset = rule.offset
        for j in 0..<out.count {
            out[j] = Self.value(seed: seed, index: UInt64(start + j), scale: scale, offset: offset)
        }
    }

    /// One tensor.
    public func tensor(key: String, shape: [Int]) throws -> Tensor {
        guard let rule = Self.rule(for: key, shape: shape) else {
            throw CheckpointError(description, "no fssam-synth-v1 rule covers key '\(key)' \(shape)")
        }
        return Tensor(shape: shape) { fill(key: key, rule: rule, into: $0) }
    }

    /// All tensors of `specs`, in order. Tensors are generated concurrently (the counter-based stream
    /// makes each independent), which is what keeps DINOv2-B's 86.6 M values well under a second.
    public func generate(_ specs: [TensorSpec]) throws -> StateDict {
        let rules: [Rule] = try specs.map { spec in
            guard let rule = Self.rule(for: spec.name, shape: spec.shape) else {
                throw CheckpointError(description, "no fssam-synth-v1 rule covers key '\(spec.name)' \(spec.shape)")
            }
            return rule
        }
        let results = ParallelSlots<Tensor>(count: specs.count)
        // Largest first, so the last tasks left running are the small ones.
        let order = specs.indices.sorted { specs[$0].elementCount > specs[$1].elementCount }
        DispatchQueue.concurrentPerform(iterations: specs.count) { n in
            let i = order[n]
            let tensor = Tensor(shape: specs[i].shape) { fill(key: specs[i].name, rule: rules[i], into: $0) }
            // Each iteration initialises a distinct slot; nothing else touches `results` until all finish.
            results.initialize(i, to: tensor)
        }
        let tensors = results.take()
        return try StateDict(source: description, specs.indices.map { (specs[$0].name, tensors[$0]) })
    }

    /// The SAM 2 weights of `config`, named as in `sam2_hiera_*.pt['model']`.
    public func sam2(_ config: SAM2Config = .small) throws -> StateDict { try generate(SAM2Keys.specs(config)) }

    /// The DINOv2 weights of `config`, named as in `dinov2_vit*14_pretrain.pth`.
    public func dinov2(_ config: DINOv2Config = .base) throws -> StateDict { try generate(DINOv2Keys.specs(config)) }
}

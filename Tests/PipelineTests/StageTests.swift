import Checkpoint
import Dispatch
import StageCache
import Tensor
import XCTest
@testable import Pipeline

/// Cache keys of the FSSAM stages: what enters them (byte-affecting parameters, exactly the weights
/// a stage reads, output digests of inputs) and what does not (speed-only settings, input keys).
final class StageTests: XCTestCase {
    // MARK: Fixtures

    /// The synthetic stand-ins for SAM 2 Hiera-S + DINOv2-B (the parity fixtures' models), loaded
    /// once per seed: generating 130 M values is the slow part of these tests.
    static let seed0 = Result { try loadSynthetic("synthetic") }
    static let seed1 = Result { try loadSynthetic("synthetic:1") }

    static func loadSynthetic(_ name: String) throws -> (sam2: StateDict, dino: StateDict) {
        let routed = try RoutedCheckpoint.load(path: name)
        return (try routed.stateDict(.sam2), try routed.stateDict(.dinov2))
    }

    static let digests0 = Result { () throws -> StageWeightDigests in
        let w = try seed0.get()
        return try StageWeightDigests(sam2: w.sam2, dino: w.dino)
    }

    /// An output digest as the executor computes it for a stored result.
    func outputDigest(_ values: [Float]) -> Digest {
        BlobDigest.of(CacheTensor(shape: [values.count], floats: values))
    }

    /// Distinct output digests for every input the catalog declares for `stage`.
    func inputs(of stage: FSSAMStage, salt: Float = 0) -> [String: Digest] {
        let kind = StageCatalog.fssam.kind(named: stage.name)!
        var out: [String: Digest] = [:]
        for (i, input) in kind.inputs.enumerated() { out[input.name] = outputDigest([Float(i), salt]) }
        return out
    }

    func key(_ stage: FSSAMStage, _ parameters: [String: ParameterValue] = [:],
             inputs: [String: Digest]? = nil, weights: StageWeightDigests? = nil) throws -> Digest {
        let w = try weights ?? Self.digests0.get()
        return stage.key(parameters: parameters, inputs: inputs ?? self.inputs(of: stage), weights: w).digest
    }

    // MARK: (a) parameters

    func testEveryStageHasAKeyThatIsStableForTheSameInputs() throws {
        XCTAssertEqual(FSSAMStage.all.map(\.name), StageCatalog.fssam.kinds.map(\.name),
                       "every catalog stage has a descriptor, in catalog order")
        for stage in FSSAMStage.all {
            // decode_mask 2: it stores the chosen mask's 128² logits instead of the 512² upsampling.
            // scma 2: attention in memory space, from scma_prefix.
            XCTAssertEqual(stage.version, ["decode_mask", "scma"].contains(stage.name) ? 2 : 1, stage.name)
            XCTAssertEqual(stage.version, Int64(StageCatalog.fssam.kind(named: stage.name)!.version), stage.name)
            let first = try key(stage)
            // A second digest table from the same weights, as a second process loading them would build.
            let again = try StageWeightDigests(sam2: Self.seed0.get().sam2, dino: Self.seed0.get().dino)
            XCTAssertEqual(first, try key(stage, weights: again), stage.name)
            // Explicit defaults and omitted parameters are one key.
            XCTAssertEqual(first, try key(stage, StageCatalog.fssam.kind(named: stage.name)!.defaultParameters), stage.name)
        }
        // Different stages never share a key, even with identical inputs and parameters.
        let keys = try FSSAMStage.all.map { try key($0, inputs: ["x": outputDigest([1])]) }
        XCTAssertEqual(Set(keys).count, keys.count)
    }

    func testImrIterationsChangeImrKeyOnly() throws {
        let three = try key(.imr, ["iterations": 3])
        let two = try key(.imr, ["iterations": 2])
        XCTAssertNotEqual(three, two)
        XCTAssertEqual(three, try key(.imr), "3 is the default")
        // The same pipeline parameters handed to other stages: only imr declares `iterations`.
        for stage in [FSSAMStage.dinoFeatures, .sam2Features, .memoryEncode, .scma] {
            XCTAssertEqual(try key(stage, ["iterations": 3]), try key(stage, ["iterations": 2]), stage.name)
        }
    }

    /// Every declared byte-affecting parameter moves its stage's key when its value changes.
    func testEveryByteAffectingParameterIsInTheKey() throws {
        var checked = 0
        for stage in FSSAMStage.all {
            for spec in stage.parameterSpecs where spec.affectsOutput {
                let other = try XCTUnwrap(Self.otherValue(than: spec), "\(stage.name).\(spec.name)")
                XCTAssertNotEqual(try key(stage), try key(stage, [spec.name: other]), "\(stage.name).\(spec.name)")
                XCTAssertEqual(stage.key(parameters: [:], inputs: [:], weights: try Self.digests0.get())
                                   .parameters[spec.name], spec.defaultValue)
                checked += 1
            }
        }
        // decode.model_size, dino_features.input_size, imr.iterations, scma.alpha, scma.calibration,
        // export.threshold, export.formats; and scma_prefix's key holds scma's alpha and calibration.
        XCTAssertEqual(checked, 9)
    }

    /// scma_prefix computes part of scma: in a run its key takes scma's parameters (a calibration
    /// change must miss), and no other stage's (an IMR re-tune must hit).
    func testScmaPrefixIsKeyedOnScmaParametersInARun() throws {
        XCTAssertEqual(FSSAMStage.scmaPrefix.parameterStage, "scma")
        XCTAssertEqual(FSSAMStage.scmaPrefix.parameterSpecs, FSSAMStage.scma.parameterSpecs)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fssam-stagekeys-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try CacheStore(directory: directory.path)
        func resolverKey(_ overrides: [String]) throws -> StageKey {
            let parameters = try RunParameters(overrides: try overrides.map { try PipelineOverride.parse($0) })
            return StageResolver(store: store, weights: try Self.digests0.get(), parameters: parameters)
                .key(.scmaPrefix, inputs: inputs(of: .scmaPrefix))
        }
        let defaults = try resolverKey([])
        XCTAssertEqual(defaults.parameters, ["alpha": .float(10), "calibration": .string("released")])
        XCTAssertNotEqual(defaults, try resolverKey(["scma.calibration=paper"]))
        XCTAssertEqual(defaults, try resolverKey(["imr.iterations=2"]))
    }

    func testSpeedOnlySettingsStayOutOfTheKey() throws {
        let decode = try key(.decode)
        XCTAssertEqual(decode, try key(.decode, ["max_pixels": 5]))
        XCTAssertNil(FSSAMStage.decode.key(parameters: ["max_pixels": 5], inputs: [:], weights: try Self.digests0.get())
            .parameters["max_pixels"])
        for stage in FSSAMStage.all {
            XCTAssertEqual(try key(stage), try key(stage, ["threads": 8, "batch_size": 4]), stage.name)
        }
    }

    func testInputOutputDigestsAreInTheKey() throws {
        XCTAssertNotEqual(try key(.scma), try key(.scma, inputs: inputs(of: .scma, salt: 1)))
        var renamed = inputs(of: .scma)
        renamed["other"] = renamed.removeValue(forKey: "refined_memory")
        XCTAssertNotEqual(try key(.scma), try key(.scma, inputs: renamed), "input names are part of the key")
    }

    // MARK: (b) early cutoff

    func testEqualUpstreamOutputsGiveTheSameDownstreamKey() throws {
        // Two imr runs with different keys (3 vs 2 iterations) ...
        let imrInputs = inputs(of: .imr)
        let imr3 = try key(.imr, ["iterations": 3], inputs: imrInputs)
        let imr2 = try key(.imr, ["iterations": 2], inputs: imrInputs)
        XCTAssertNotEqual(imr3, imr2)
        // ... whose outputs happen to be equal (e.g. IMR converged): scma keys on the output digest.
        let refined = outputDigest([0.25, -1, 3])
        var scmaInputs = inputs(of: .scma)
        scmaInputs["refined_memory"] = refined
        let after3 = try key(.scma, inputs: scmaInputs)
        scmaInputs["refined_memory"] = outputDigest([0.25, -1, 3])  // recomputed, equal bytes
        XCTAssertEqual(after3, try key(.scma, inputs: scmaInputs))
        // The cutoff propagates: decode_mask sees scma's (equal) output digest too.
        let fused = outputDigest([7, 8])
        XCTAssertEqual(try key(.decodeMask, inputs: ["fused": fused, "query_features": outputDigest([9])]),
                       try key(.decodeMask, inputs: ["fused": outputDigest([7, 8]), "query_features": outputDigest([9])]))
        // Different output bytes do reach the downstream key.
        scmaInputs["refined_memory"] = outputDigest([0.25, -1, 3.0000002])
        XCTAssertNotEqual(after3, try key(.scma, inputs: scmaInputs))
    }

    // MARK: (c) weights digests

    func testChangingAMemoryAttentionWeightChangesOnlyScmasDigest() throws {
        let w = try Self.seed0.get()
        var sam2 = w.sam2
        let name = "memory_attention.layers.2.linear1.weight"
        var tensor = try XCTUnwrap(sam2[name])
        tensor.storage[17] = tensor.storage[17].nextUp
        sam2.set(name, tensor)
        let before = try Self.digests0.get()
        let after = try StageWeightDigests(sam2: sam2, dino: w.dino)
        XCTAssertNotEqual(before["scma"], after["scma"])
        for stage in ["dino_features", "sam2_features", "memory_encode", "decode_mask"] {
            XCTAssertNotNil(before[stage], stage)
            XCTAssertEqual(before[stage], after[stage], stage)
        }
        XCTAssertNotEqual(try key(.scma), try key(.scma, weights: after))
        XCTAssertEqual(try key(.dinoFeatures), try key(.dinoFeatures, weights: after))
        XCTAssertEqual(try key(.sam2Features), try key(.sam2Features, weights: after))
    }

    func testStagesWithoutWeightsHaveNoWeightsDigest() throws {
        let digests = try Self.digests0.get()
        for stage in [FSSAMStage.decode, .priors, .imr, .export] {
            XCTAssertNil(digests[stage.name], stage.name)
            XCTAssertNil(stage.key(parameters: [:], inputs: [:], weights: digests).weightsDigest, stage.name)
        }
        XCTAssertEqual(Set(digests.digests.keys), ["dino_features", "sam2_features", "memory_encode", "scma_prefix", "scma",
                                                   "decode_mask"])
    }

    func testSyntheticSeedsHaveDifferentDigests() throws {
        let w1 = try Self.seed1.get()
        let zero = try Self.digests0.get()
        let one = try StageWeightDigests(sam2: w1.sam2, dino: w1.dino)
        for (stage, digest) in zero.digests {
            XCTAssertNotEqual(digest, one[stage], stage)
        }
        XCTAssertNotEqual(try key(.sam2Features), try key(.sam2Features, weights: one))
    }

    func testWeightsDigestCoversNamesShapesAndValues() {
        let a = Tensor(shape: [2, 3], storage: [1, 2, 3, 4, 5, 6])
        let b = Tensor(shape: [2], storage: [0, -0.0])
        let base = WeightsDigest.of(["a": a, "b": b])
        XCTAssertEqual(base, WeightsDigest.of(["b": b, "a": a]))
        XCTAssertNotEqual(base, WeightsDigest.of(["a2": a, "b": b]), "name")
        XCTAssertNotEqual(base, WeightsDigest.of(["a": a.reshaped([3, 2]), "b": b]), "shape")
        XCTAssertNotEqual(base, WeightsDigest.of(["a": a, "b": Tensor(shape: [2], storage: [0, 0])]), "-0 vs 0")
        XCTAssertNotEqual(base, WeightsDigest.of(["a": a]), "a tensor fewer")
        // A known encoding: SHA-256 of the canonical bytes written out by hand.
        var bytes = Array("FSSAM-WEIGHTS-DIGEST-1".utf8) + [1, 0, 0, 0, 0, 0, 0, 0]
        bytes += [1, 0, 0, 0] + Array("b".utf8) + [1] + [2, 0, 0, 0, 0, 0, 0, 0]
        bytes += Digest.sha256([0, 0, 0, 0, 0, 0, 0, 0x80]).bytes
        XCTAssertEqual(WeightsDigest.of(["b": b]), Digest.sha256(bytes))
    }

    func testASelectionThatMatchesNoWeightIsAnError() {
        XCTAssertThrowsError(try StageWeightDigests(tensors: ["sam2.image_encoder.x": Tensor(shape: [1])],
                                                    stages: [FSSAMStage.scma]))
    }

    /// Startup cost: every stage's digest over the full Hiera-S + DINOv2-B weights.
    func testWeightsDigestTimeAtLoad() throws {
        let w = try Self.seed0.get()
        let bytes = (w.sam2.parameterCount + w.dino.parameterCount) * 4
        var best = Double.infinity
        for _ in 0..<3 {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try StageWeightDigests(sam2: w.sam2, dino: w.dino)
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        print("StageWeightDigests: \(bytes / 1_000_000) MB of weights in \(String(format: "%.3f", best)) s (best of 3)")
        // Generous bound: a regression to per-element hashing would take tens of seconds.
        XCTAssertLessThan(best, 5)
    }

    // MARK: (d) every weight FSSAM reads is claimed by a stage

    /// Keys FSSAM never reads at inference (`/work/shared/spec/sam2-internals.md` §6.2 "Never read",
    /// and `fssam-pipeline.md` §2.6 for DINOv2's `mask_token`: called with masks=None).
    static let unusedKeys: Set<String> = [
        "sam2.no_mem_embed", "sam2.no_mem_pos_enc",
        "sam2.sam_prompt_encoder.point_embeddings.0.weight", "sam2.sam_prompt_encoder.point_embeddings.1.weight",
        "sam2.sam_prompt_encoder.point_embeddings.2.weight", "sam2.sam_prompt_encoder.point_embeddings.3.weight",
        "dino.mask_token",
    ]

    func testEveryWeightKeyIsClaimedByAStageExceptTheUnusedOnes() {
        let keys = SAM2Keys.specs(.small).map { "sam2." + $0.name } + DINOv2Keys.specs(.base).map { "dino." + $0.name }
        XCTAssertEqual(keys.count, 516 + 175)
        XCTAssertTrue(Self.unusedKeys.isSubset(of: Set(keys)), "the unused list names keys that exist")
        for key in keys {
            let claimedBy = FSSAMStage.all.filter { $0.weights.contains(key) }.map(\.name)
            if Self.unusedKeys.contains(key) {
                XCTAssertEqual(claimedBy, [], "\(key) is never read, so no stage should key on it")
            } else {
                XCTAssertFalse(claimedBy.isEmpty, "\(key) is read by FSSAM but no stage's weights name it")
            }
        }
    }

    func testWeightSelectionsOfTheSharedModules() {
        let s = FSSAMStage.self
        // conv_s0 / conv_s1 run inside sam2_features; the decoder stages get their outputs as inputs.
        for conv in ["sam2.sam_mask_decoder.conv_s0.weight", "sam2.sam_mask_decoder.conv_s1.bias"] {
            XCTAssertTrue(s.sam2Features.weights.contains(conv))
            XCTAssertFalse(s.decodeMask.weights.contains(conv))
            XCTAssertFalse(s.memoryEncode.weights.contains(conv))
        }
        XCTAssertTrue(s.decodeMask.weights.contains("sam2.sam_mask_decoder.transformer.layers.0.mlp.layers.0.weight"))
        XCTAssertTrue(s.memoryEncode.weights.contains("sam2.obj_ptr_proj.layers.2.bias"))
        XCTAssertFalse(s.decodeMask.weights.contains("sam2.obj_ptr_proj.layers.2.bias"))
        XCTAssertTrue(s.scma.weights.contains("sam2.maskmem_tpos_enc"))
        // An exact key selects only itself, a prefix only under its dot.
        XCTAssertTrue(s.memoryEncode.weights.contains("sam2.no_obj_ptr"))
        XCTAssertFalse(s.memoryEncode.weights.contains("sam2.no_obj_ptr_extra"))
        XCTAssertFalse(s.scma.weights.contains("sam2.memory_attention_extra.x"))
        XCTAssertEqual(s.sam2Features.weightKeyPrefixes.first, "sam2.image_encoder.")
    }

    // MARK: Helpers

    /// A valid value of `spec` other than its default.
    static func otherValue(than spec: ParameterSpec) -> ParameterValue? {
        switch (spec.type, spec.defaultValue) {
        case let (.int(_, max), .int(v)): return .int(max.map { v < $0 } ?? true ? v + 1 : v - 1)
        case let (.float(_, _), .float(v)): return .float(v + 0.5)
        case let (.string(allowed?), .string(v)): return allowed.first { $0 != v }.map { .string($0) }
        case let (.string(nil), .string(v)): return .string(v + "x")
        case let (.bool, .bool(v)): return .bool(!v)
        case let (.stringList(allowed), .list(v)): return .list(v + [.string(allowed.last!)])
        default: return nil
        }
    }
}

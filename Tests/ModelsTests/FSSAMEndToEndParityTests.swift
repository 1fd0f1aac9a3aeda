import XCTest
import Checkpoint
import FixtureSupport
import Models
import Tensor

/// The whole forward pass from the fixtures' U8 inputs with the synthetic weights, compared
/// tensor by tensor, in pipeline order, with the README's end-to-end tolerances. A failure names
/// the first tensor that diverges and by how much.
final class FSSAMEndToEndParityTests: XCTestCase {
    nonisolated(unsafe) static var model: FSSAM?

    static func sharedModel() throws -> FSSAM {
        if let model { return model }
        let synthetic = SyntheticWeights()
        let built = try FSSAM(sam2: try synthetic.sam2(.small), dino: try synthetic.dinov2(.base))
        model = built
        return built
    }

    /// End-to-end absolute tolerances from `fixtures/README.md` ("Recommended parity tolerances").
    /// nil means the values must be equal.
    static func tolerance(for name: String) -> Float? {
        switch name {
        case "ma.memory_mask", "ma.num_obj_ptr_tokens", "heads.final.best_index": return nil
        case _ where name.hasPrefix("dino.feat"): return 1e-4
        case _ where name.hasPrefix("prior."): return 2e-5
        case _ where name.hasPrefix("sam2."), "mem.pos": return 1e-4
        case _ where name.hasSuffix(".dec.mask_inputs") || name.hasSuffix(".pred_lowres"): return 1e-4
        case _ where name.hasPrefix("mem.") && name.hasSuffix(".feat"): return 1e-3
        case _ where name.hasSuffix(".obj_ptr") || name.hasSuffix(".dec.object_score_logits"): return 1e-4
        case _ where name.hasPrefix("imr."): return 1e-3
        case _ where name.hasPrefix("ma."): return 1e-3
        case _ where name.hasPrefix("heads.final."), "out.logits": return 1e-4
        default: return nil
        }
    }

    /// Fixture tensors this test does not compare, and why: each is covered by a staged test.
    static let comparedElsewhere: Set<String> = [
        "dino.in.qry", "dino.block0.qry",            // DINOv2ParityTests (internal to the DINOv2 stage)
        "sam2.trunk.stage3.qry", "sam2.trunk.stage4.qry", // SAM2ImageEncoderParityTests (inside the encoder)
    ]

    func image(_ file: SafetensorsFile, _ name: String) throws -> Tensor {
        let hwc = try file.uint8(name)
        return Tensor(shape: [3, 512, 512]) { out in
            for p in 0..<(512 * 512) { for c in 0..<3 { out[c * 512 * 512 + p] = Float(hwc[p * 3 + c]) } }
        }
    }

    func run(fixture: String, shots: Int) throws {
        let file = try SafetensorsFile(path: Fixtures.path(fixture))
        let model = try Self.sharedModel()
        var traced: [String: Tensor] = [:]
        let record: FSSAM.Trace = { traced[$0] = $1 }
        let supports = try (0..<shots).map {
            FSSAM.SupportInput(image: try image(file, "in.sup\($0)_img"), label: try file.uint8("in.sup\($0)_label"))
        }
        let prepared = try model.prepare(supports: supports, trace: record)
        let output = try model(query: try image(file, "in.qry_img"), supports: prepared,
                               options: FSSAM.Options(refineIterations: 3, calibration: .released), trace: record)

        var compared = 0
        for entry in file.entries where !entry.name.hasPrefix("in.") {
            if Self.comparedElsewhere.contains(entry.name) { continue }
            guard let ours = traced[entry.name] else {
                return XCTFail("\(fixture): the forward pass does not produce '\(entry.name)'")
            }
            let reference = try file.tensor(entry.name)
            guard ours.count == reference.count else {
                return XCTFail("\(fixture): '\(entry.name)' has \(ours.count) values (shape \(ours.shape)), the fixture \(reference.count) (\(reference.shape))")
            }
            var worst: Float = 0, worstIndex = 0
            for i in 0..<ours.count {
                let d = abs(ours.storage[i] - reference.storage[i])
                if !(d <= worst) { worst = d; worstIndex = i }
            }
            let limit = Self.tolerance(for: entry.name) ?? 0
            if !(worst <= limit) {
                // Stop at the first divergence in pipeline order: later tensors inherit it.
                return XCTFail("\(fixture): first divergence at '\(entry.name)': max |Δ| = \(worst) at element \(worstIndex) (ours \(ours.storage[worstIndex]), reference \(reference.storage[worstIndex])), tolerance \(limit)")
            }
            compared += 1
        }
        XCTAssertGreaterThan(compared, 20, "\(fixture): too few tensors compared")

        // The final binary mask equals the reference wherever the reference logit is clearly signed.
        let reference = try file.tensor("out.logits").storage
        var disagreements = 0, decided = 0
        for (ours, ref) in zip(output.logits.storage, reference) where abs(ref) > 1e-4 {
            decided += 1
            if (ours >= 0) != (ref >= 0) { disagreements += 1 }
        }
        XCTAssertGreaterThan(decided, 250_000)
        XCTAssertEqual(disagreements, 0, "\(fixture): \(disagreements) mask pixels differ from the reference where |logit| > 1e-4")
    }

    func testOneShot() throws { try run(fixture: "fssam-1shot.safetensors", shots: 1) }

    func testFiveShotReleasedCalibration() throws { try run(fixture: "fssam-5shot.safetensors", shots: 5) }
}

import XCTest
import Foundation
import Checkpoint
import FixtureSupport
import Tensor
@testable import Models

/// DINOv2 ViT-B/14 with fssam-synth-v1 weights against the 1-shot fixture (tolerances from
/// fixtures/README.md: dino.in 1e-5, block0 2e-5, feat 1e-4).
final class DINOv2ParityTests: XCTestCase {
    static let fixture = try! SafetensorsFile(path: Fixtures.path("fssam-1shot.safetensors"))
    static let model: DinoVisionTransformer = {
        let weights = try! SyntheticWeights().dinov2(.base)
        return try! DinoVisionTransformer(stateDict: weights)
    }()

    /// Query and support features of the 1-shot fixture, computed once and shared with the
    /// end-to-end priors test (each costs a full ViT-B forward).
    static let oneShotFeatures: (query: Tensor, support: Tensor) = {
        let f = fixture
        return (model.features(rgb: try! f.uint8("in.qry_img"), height: 512, width: 512),
                model.features(rgb: try! f.uint8("in.sup0_img"), height: 512, width: 512))
    }()

    func input(_ name: String) throws -> Tensor {
        DinoVisionTransformer.imageTensor(rgb: try Self.fixture.uint8(name), height: 512, width: 512)
    }

    func testArchitectureReadFromShapes() {
        let m = Self.model
        XCTAssertEqual(m.embedDim, 768)
        XCTAssertEqual(m.numHeads, 12)
        XCTAssertEqual(m.depth, 12)
        XCTAssertEqual(m.patchSize, 14)
    }

    func testInputAndFirstBlock() throws {
        let x = DinoVisionTransformer.preprocess(try input("in.qry_img"))
        assertParity(x, try Self.fixture.tensor("dino.in.qry"), tolerance: 1e-5, "dino.in.qry")
        let block0 = Self.model.tokens(x, blockCount: 1)
        assertParity(block0, try Self.fixture.tensor("dino.block0.qry"), tolerance: 2e-5, "dino.block0.qry")
    }

    func testFeatures() throws {
        for (feat, name) in [(Self.oneShotFeatures.query, "dino.feat.qry"), (Self.oneShotFeatures.support, "dino.feat.sup")] {
            XCTAssertEqual(feat.shape, [768, 40, 40])
            assertParity(feat, try Self.fixture.tensor(name), tolerance: 1e-4, name)
        }
    }

    func testMissingAndMisshapedKeysAreNamed() throws {
        var weights = try SyntheticWeights().dinov2(.small)
        var broken = StateDict(source: "test")
        for key in weights.keys where key != "blocks.3.attn.proj.bias" { broken.set(key, weights[key]!) }
        XCTAssertThrowsError(try DinoVisionTransformer(stateDict: broken)) { error in
            XCTAssertTrue("\(error)".contains("blocks.3.attn.proj.bias"), "\(error)")
        }
        weights.set("blocks.0.mlp.fc2.weight", Tensor(shape: [384, 7]))
        XCTAssertThrowsError(try DinoVisionTransformer(stateDict: weights)) { error in
            XCTAssertTrue("\(error)".contains("blocks.0.mlp.fc2.weight"), "\(error)")
        }
    }

    func testSmallModelRunsAtOtherSizes() throws {
        let model = try DinoVisionTransformer(stateDict: try SyntheticWeights().dinov2(.small))
        XCTAssertEqual(model.numHeads, 6)
        let image = Tensor(shape: [1, 3, 28 * 14, 28 * 14], repeating: 0.5)
        XCTAssertEqual(model(image).shape, [384, 28, 28])
        // Native grid (37): the pos-embed is used as is.
        XCTAssertEqual(model.positionalEmbedding(gridHeight: 37, gridWidth: 37).shape, [1370, 384])
    }
}

/// ViT-g's SwiGLU feed-forward (`w12 → silu(x1)·x2 → w3`) against a naive loop; the synthetic
/// ViT-g (1.1 B weights) is too large for a unit test, so the layer is built from a small dict.
final class SwiGLUTests: XCTestCase {
    func testSwiGLUFeedForward() throws {
        let (d, h, tokens) = (8, 6, 5)
        var seed: UInt64 = 7
        func values(_ n: Int) -> [Float] { (0..<n).map { _ in seed = seed &* 6364136223846793005 &+ 1442695040888963407; return Float(seed >> 40) / Float(1 << 24) - 0.5 } }
        let dict = try StateDict(source: "test", [
            ("mlp.w12.weight", Tensor(shape: [2 * h, d], storage: values(2 * h * d))),
            ("mlp.w12.bias", Tensor(shape: [2 * h], storage: values(2 * h))),
            ("mlp.w3.weight", Tensor(shape: [d, h], storage: values(d * h))),
            ("mlp.w3.bias", Tensor(shape: [d], storage: values(d))),
        ])
        let ffn = try DinoVisionTransformer.FeedForward(DinoVisionTransformer.Weights(dict).child("mlp"), dim: d)
        let x = Tensor(shape: [tokens, d], storage: values(tokens * d))
        let y = ffn(x)
        let w12 = dict["mlp.w12.weight"]!, b12 = dict["mlp.w12.bias"]!, w3 = dict["mlp.w3.weight"]!, b3 = dict["mlp.w3.bias"]!
        for t in 0..<tokens {
            var hidden = [Double](repeating: 0, count: h)
            for j in 0..<h {
                var x1 = Double(b12[j]), x2 = Double(b12[h + j])
                for i in 0..<d { x1 += Double(w12[j, i] * x[t, i]); x2 += Double(w12[h + j, i] * x[t, i]) }
                hidden[j] = x1 / (1 + Foundation.exp(-x1)) * x2
            }
            for o in 0..<d {
                var v = Double(b3[o])
                for j in 0..<h { v += Double(w3[o, j]) * hidden[j] }
                XCTAssertEqual(Double(y[t, o]), v, accuracy: 1e-5, "token \(t) output \(o)")
            }
        }
    }
}

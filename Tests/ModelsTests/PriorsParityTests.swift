import XCTest
import Checkpoint
import FixtureSupport
import Tensor
@testable import Models

/// Pseudo Prompt Generator against the 1-shot and 5-shot fixtures. Staged (from the fixture's
/// own DINOv2 features or 40² maps): 1e-5. End to end (from our DINOv2 features): 2e-5.
final class PriorsParityTests: XCTestCase {
    static let oneShot = try! SafetensorsFile(path: Fixtures.path("fssam-1shot.safetensors"))
    static let fiveShot = try! SafetensorsFile(path: Fixtures.path("fssam-5shot.safetensors"))
    let generator = PseudoPromptGenerator()

    func mask(_ file: SafetensorsFile, _ name: String) throws -> Tensor {
        PseudoPromptGenerator.supportMask(label: try file.uint8(name), height: 512, width: 512)
    }

    func checkOneShot(_ priors: PseudoPromptGenerator.Priors, tolerance: Float, _ label: String) throws {
        let f = Self.oneShot
        assertParity(priors.shots[0].supportMask, try f.tensor("prior.s0.sup_mask_40"), tolerance: tolerance, "prior.s0.sup_mask_40 (\(label))")
        assertParity(priors.shots[0].foreground, try f.tensor("prior.s0.fg_40"), tolerance: tolerance, "prior.s0.fg_40 (\(label))")
        assertParity(priors.shots[0].background, try f.tensor("prior.s0.bg_40"), tolerance: tolerance, "prior.s0.bg_40 (\(label))")
        assertParity(priors.foreground, try f.tensor("prior.fg_512"), tolerance: tolerance, "prior.fg_512 (\(label))")
        assertParity(priors.discriminative, try f.tensor("prior.ae_512"), tolerance: tolerance, "prior.ae_512 (\(label))")
    }

    func testOneShotFromFixtureFeatures() throws {
        let f = Self.oneShot
        let priors = generator(query: try f.tensor("dino.feat.qry"),
                               supports: [(try f.tensor("dino.feat.sup"), try mask(f, "in.sup0_label"))])
        try checkOneShot(priors, tolerance: 1e-5, "staged")
    }

    func testOneShotEndToEndFromImages() throws {
        let f = Self.oneShot
        let (query, support) = DINOv2ParityTests.oneShotFeatures
        let priors = generator(query: query, supports: [(support, try mask(f, "in.sup0_label"))])
        try checkOneShot(priors, tolerance: 2e-5, "end to end")
    }

    func testFiveShotFromStoredGridMaps() throws {
        let f = Self.fiveShot
        var shots: [PseudoPromptGenerator.Shot] = []
        for i in 0..<5 {
            // The support mask path is checked from the labels; the 40² cosine maps are the
            // fixture's (the 5-shot file stores no DINOv2 features).
            let m = Resampling.bilinear(try mask(f, "in.sup\(i)_label"), height: 40, width: 40, alignCorners: true)
            assertParity(m, try f.tensor("prior.s\(i).sup_mask_40"), tolerance: 1e-5, "prior.s\(i).sup_mask_40")
            shots.append(.init(supportMask: m, foreground: try f.tensor("prior.s\(i).fg_40"),
                               background: try f.tensor("prior.s\(i).bg_40")))
        }
        let priors = generator.priors(shots: shots)
        assertParity(priors.discriminativePerShot, try f.tensor("prior.ae_per_shot_512"), tolerance: 1e-5, "prior.ae_per_shot_512")
        assertParity(priors.foreground, try f.tensor("prior.fg_512"), tolerance: 1e-5, "prior.fg_512 (5-shot)")
        assertParity(priors.discriminative, try f.tensor("prior.ae_512"), tolerance: 1e-5, "prior.ae_512 (5-shot)")
    }

    func testBuildingBlocks() {
        // Weighted_GAP: the epsilon is added to the pixel count.
        let feature = Tensor(shape: [2, 2, 2], storage: [1, 2, 3, 4, 10, 20, 30, 40])
        let proto = PseudoPromptGenerator.weightedGAP(feature, mask: [1, 0, 1, 0])
        XCTAssertEqual(proto[0], 4 / 2.0005, accuracy: 1e-6)
        XCTAssertEqual(proto[1], 40 / 2.0005, accuracy: 1e-5)
        // cos_sim adds 1e-7 to the norm product: a zero query gives 0, not NaN.
        let query = Tensor(shape: [2, 1, 2], storage: [3, 0, 4, 0])
        let sim = PseudoPromptGenerator.cosineSimilarity(query, prototype: [3, 4])
        XCTAssertEqual(sim[0], 25 / (25 + 1e-7), accuracy: 1e-7)
        XCTAssertEqual(sim[1], 0)
        var x: [Float] = [2, 4, 3]
        PseudoPromptGenerator.minMax(&x)
        XCTAssertEqual(x, [0, 2 / (2 + 1e-7), 1 / (2 + 1e-7)])
        // Label 255 is background.
        XCTAssertEqual(PseudoPromptGenerator.supportMask(label: [0, 1, 255, 1], height: 2, width: 2).storage, [0, 1, 0, 1])
    }
}

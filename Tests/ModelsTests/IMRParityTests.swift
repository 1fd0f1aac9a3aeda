import XCTest
import Checkpoint
import FixtureSupport
import Tensor
@testable import Models

/// Iterative Memory Refinement against the 1-shot (FSSAM) and 5-shot (FSSAM5s) fixtures, staged
/// from the fixture's own memories and 512² priors. Tolerances (fixtures/README.md, staged):
/// maps in [0, 1] 1e-5, memories 1e-4.
final class IMRParityTests: XCTestCase {
    static let oneShot = try! SafetensorsFile(path: Fixtures.path("fssam-1shot.safetensors"))
    static let fiveShot = try! SafetensorsFile(path: Fixtures.path("fssam-5shot.safetensors"))
    static let mapTolerance: Float = 1e-5
    static let memoryTolerance: Float = 1e-4

    /// The cleaned support masks at 32² (bilinear, align_corners=True), checked against `imr.sup_fg_32`.
    func supportMasks(_ f: SafetensorsFile, shots: Int) throws -> [Tensor] {
        let masks = try (0..<shots).map { i in
            IterativeMemoryRefinement.downsample(
                PseudoPromptGenerator.supportMask(label: try f.uint8("in.sup\(i)_label"), height: 512, width: 512))
        }
        let stacked = Tensor(shape: [shots, 1, 32, 32], storage: masks.flatMap(\.storage))
        assertParity(stacked, try f.tensor("imr.sup_fg_32"), tolerance: Self.mapTolerance, "imr.sup_fg_32 (\(shots)-shot)")
        return masks
    }

    func run(_ f: SafetensorsFile, shots: Int) throws -> IterativeMemoryRefinement.Result {
        let masks = try supportMasks(f, shots: shots)
        let fg32 = IterativeMemoryRefinement.downsample(try f.tensor("prior.fg_512"))
        let ae32 = IterativeMemoryRefinement.downsample(try f.tensor("prior.ae_512"))
        assertParity(fg32, try f.tensor("imr.prior_fg_32"), tolerance: Self.mapTolerance, "imr.prior_fg_32 (\(shots)-shot)")
        assertParity(ae32, try f.tensor("imr.prior_ae_32"), tolerance: Self.mapTolerance, "imr.prior_ae_32 (\(shots)-shot)")
        let result = try IterativeMemoryRefinement()(
            supportMemories: [try f.tensor("mem.sup.feat")], supportMasks: masks,
            queryForegroundMemory: try f.tensor("mem.qryfg.feat"), queryDiscMemory: try f.tensor("mem.qryae.feat"),
            foregroundPrior: fg32, discPrior: ae32)
        XCTAssertEqual(result.steps.count, 3)
        XCTAssertEqual(result.refinedMemory, result.steps.last?.discMemory)
        assertParity(result.querySupportPrior, try f.tensor("imr.prior_mem_qry_sup_fg"), tolerance: Self.mapTolerance,
                     "imr.prior_mem_qry_sup_fg (\(shots)-shot)")
        for (i, step) in result.steps.enumerated() {
            assertParity(step.discMemory, try f.tensor("imr.\(i).ae_mem_out"), tolerance: Self.memoryTolerance,
                         "imr.\(i).ae_mem_out (\(shots)-shot)")
            assertParity(step.discPrior, try f.tensor("imr.\(i).prior_ae_out"), tolerance: Self.mapTolerance,
                         "imr.\(i).prior_ae_out (\(shots)-shot)")
        }
        return result
    }

    func testOneShot() throws {
        let f = Self.oneShot
        let result = try run(f, shots: 1)
        for (i, step) in result.steps.enumerated() {
            assertParity(step.queryQueryPrior, try f.tensor("imr.\(i).prior_mem_qry_qry_fg"), tolerance: Self.mapTolerance,
                         "imr.\(i).prior_mem_qry_qry_fg")
            assertParity(step.mixing, try f.tensor("imr.\(i).prior_mem_fg"), tolerance: Self.mapTolerance, "imr.\(i).prior_mem_fg")
        }
    }

    func testFiveShot() throws {
        _ = try run(Self.fiveShot, shots: 5)
    }

    /// Per-shot tensors and one stacked `[k, C, H, W]` tensor are the same input.
    func testStackedAndPerShotSupportsAgree() throws {
        let f = Self.fiveShot
        let stacked = try f.tensor("mem.sup.feat")
        let perShot = (0..<5).map { i in
            Tensor(shape: [1, 64, 32, 32], storage: Array(stacked.storage[(i * 65536)..<((i + 1) * 65536)]))
        }
        let masks = [try f.tensor("imr.sup_fg_32")]
        let imr = IterativeMemoryRefinement(iterations: 2)
        let args = (fg: try f.tensor("mem.qryfg.feat"), ae: try f.tensor("mem.qryae.feat"),
                    pfg: try f.tensor("imr.prior_fg_32"), pae: try f.tensor("imr.prior_ae_32"))
        let a = try imr(supportMemories: [stacked], supportMasks: masks, queryForegroundMemory: args.fg,
                        queryDiscMemory: args.ae, foregroundPrior: args.pfg, discPrior: args.pae)
        let b = try imr(supportMemories: perShot, supportMasks: masks, queryForegroundMemory: args.fg,
                        queryDiscMemory: args.ae, foregroundPrior: args.pfg, discPrior: args.pae)
        XCTAssertEqual(a.steps.count, 2)
        XCTAssertEqual(a.refinedMemory, b.refinedMemory)
    }

    func testMismatchedShotsAreNamed() throws {
        let f = Self.fiveShot
        XCTAssertThrowsError(try IterativeMemoryRefinement()(
            supportMemories: [try f.tensor("mem.sup.feat")], supportMasks: [try Self.oneShot.tensor("imr.sup_fg_32")],
            queryForegroundMemory: try f.tensor("mem.qryfg.feat"), queryDiscMemory: try f.tensor("mem.qryae.feat"),
            foregroundPrior: try f.tensor("imr.prior_fg_32"), discPrior: try f.tensor("imr.prior_ae_32"))) { error in
            XCTAssertTrue("\(error)".contains("IMR supports"), "\(error)")
        }
    }
}

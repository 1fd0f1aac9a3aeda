import XCTest
import Checkpoint
import FixtureSupport
import Tensor
import Models

/// SAM 2 image encoder (Hiera-S + FPN neck + conv_s0/conv_s1) with fssam-synth-v1 weights against
/// the 1-shot fixture, end to end from the U8 images. Tolerances from fixtures/README.md:
/// trunk stages and features 1e-4, `sam2.pos2` 1e-6 (it depends on no input, so the staged
/// tolerance applies).
final class SAM2ImageEncoderParityTests: XCTestCase {
    static let fixture = try! SafetensorsFile(path: Fixtures.path("fssam-1shot.safetensors"))
    /// One encoder for every test: generating the synthetic SAM 2 weights is the slow part.
    static let encoder: SAM2ImageEncoder = try! SAM2ImageEncoder(stateDict: try! SyntheticWeights().sam2(.small))

    static func encode(_ name: String) -> (features: BackboneFeatures, encoder: ImageEncoder.Output) {
        let image = SAM2ImageEncoder.imageTensor(rgb: try! fixture.uint8(name), height: 512, width: 512)
        return encoder.encode(image: image)
    }
    static let query = encode("in.qry_img")
    static let support = encode("in.sup0_img")

    func testTrunkStages() throws {
        let stages = Self.query.encoder.trunk
        XCTAssertEqual(stages.map(\.channels), [96, 192, 384, 768])
        XCTAssertEqual(stages.map(\.height), [128, 64, 32, 16])
        assertParity(stages[2].channelsFirst(), try Self.fixture.tensor("sam2.trunk.stage3.qry"), tolerance: 1e-4,
                     "sam2.trunk.stage3.qry")
        assertParity(stages[3].channelsFirst(), try Self.fixture.tensor("sam2.trunk.stage4.qry"), tolerance: 1e-4,
                     "sam2.trunk.stage4.qry")
    }

    func testQueryFeatures() throws {
        try checkFeatures(Self.query.features, suffix: "qry")
    }

    func testSupportFeatures() throws {
        try checkFeatures(Self.support.features, suffix: "sup")
    }

    func checkFeatures(_ f: BackboneFeatures, suffix: String) throws {
        XCTAssertEqual(f.featS0.shape, [32, 128, 128])
        XCTAssertEqual(f.featS1.shape, [64, 64, 64])
        XCTAssertEqual(f.feat.shape, [256, 32, 32])
        for (tensor, level) in [(f.featS0, 0), (f.featS1, 1), (f.feat, 2)] {
            let name = "sam2.feat\(level).\(suffix)"
            assertParity(tensor, try Self.fixture.tensor(name), tolerance: 1e-4, name)
        }
    }

    func testPositionEncoding() throws {
        let pos = Self.query.features.pos
        XCTAssertEqual(pos.shape, [256, 32, 32])
        assertParity(pos, try Self.fixture.tensor("sam2.pos2"), tolerance: 1e-6, "sam2.pos2")
        // Same for every image: the support's is the identical table.
        XCTAssertEqual(Self.support.features.pos, pos)
    }

    /// Hiera-S block table of spec §2.4: the window lag, global blocks and q-pool blocks.
    func testBlockTableDetectedFromWeights() {
        let trunk = Self.encoder.trunk
        XCTAssertEqual(trunk.config, .small)
        XCTAssertEqual(trunk.stageEnds, [0, 2, 13, 15])
        let specs = trunk.blocks.map(\.spec)
        XCTAssertEqual(specs.map(\.window), [8, 8, 4, 4, 14, 14, 14, 0, 14, 14, 0, 14, 14, 0, 14, 7])
        XCTAssertEqual(specs.map(\.heads), [1, 2, 2, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 8, 8])
        XCTAssertEqual(specs.indices.filter { specs[$0].poolsQuery }, [1, 3, 14])
        XCTAssertEqual(specs.map(\.dimOut), [96, 192, 192, 384] + Array(repeating: 384, count: 10) + [768, 768])
    }

    func testOtherSizesTables() {
        let large = Hiera.blockSpecs(.large)
        XCTAssertEqual(large.stageEnds, [1, 7, 43, 47])
        XCTAssertEqual(large.blocks.indices.filter { large.blocks[$0].poolsQuery }, [2, 8, 44])
        XCTAssertEqual(large.blocks[2].window, 8)
        XCTAssertEqual(large.blocks[8].window, 4)
        XCTAssertEqual(large.blocks[44].window, 16)
        XCTAssertEqual(large.blocks[45].window, 8)
        XCTAssertEqual(large.blocks[23].window, 0)
        let basePlus = Hiera.blockSpecs(.basePlus)
        XCTAssertEqual(basePlus.stageEnds, [1, 4, 20, 23])
        XCTAssertEqual(basePlus.blocks.map(\.heads).last, 16)
        XCTAssertEqual(basePlus.blocks[21].window, 14)
        XCTAssertEqual(basePlus.blocks[22].window, 7)
    }

    /// Hiera-T detected from its shapes, run at a small size where every windowed stage pads.
    func testTinyRunsAtOtherSizes() throws {
        let encoder = try SAM2ImageEncoder(stateDict: try SyntheticWeights().sam2(.tiny))
        XCTAssertEqual(encoder.trunk.config, .tiny)
        let image = Tensor(shape: [3, 64, 64], repeating: 128)
        let f = encoder(image: image)
        XCTAssertEqual(f.featS0.shape, [32, 16, 16])
        XCTAssertEqual(f.featS1.shape, [64, 8, 8])
        XCTAssertEqual(f.feat.shape, [256, 4, 4])
        XCTAssertEqual(f.pos.shape, [256, 4, 4])
        XCTAssertTrue(f.feat.storage.allSatisfy(\.isFinite))
    }

    func testMissingAndMisshapedKeysAreNamed() throws {
        var weights = try SyntheticWeights().sam2(.tiny)
        for missing in ["image_encoder.trunk.blocks.3.attn.qkv.bias", "image_encoder.neck.convs.2.conv.weight",
                        "sam_mask_decoder.conv_s1.bias", "image_encoder.trunk.pos_embed_window"] {
            var broken = StateDict(source: "test")
            for key in weights.keys where key != missing { broken.set(key, weights[key]!) }
            XCTAssertThrowsError(try SAM2ImageEncoder(stateDict: broken)) { error in
                XCTAssertTrue("\(error)".contains(missing), "\(error)")
            }
        }
        weights.set("image_encoder.trunk.blocks.1.proj.weight", Tensor(shape: [192, 7]))
        XCTAssertThrowsError(try SAM2ImageEncoder(stateDict: weights)) { error in
            XCTAssertTrue("\(error)".contains("image_encoder.trunk.blocks.1.proj.weight"), "\(error)")
        }
    }

    func testNormalisationOrder() {
        let x = SAM2ImageEncoder.normalize(Tensor(shape: [3, 1, 1], storage: [0, 128, 255]))
        let expected: [Float] = [(Float(0) / 255 - 0.485) / 0.229, (Float(128) / 255 - 0.456) / 0.224,
                                 (Float(255) / 255 - 0.406) / 0.225]
        XCTAssertEqual(x.storage, expected)
    }
}

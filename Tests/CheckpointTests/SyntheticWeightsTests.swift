import Foundation
import XCTest
import Checkpoint
import FixtureSupport
import Tensor

/// One row of a `*.keys.tsv` fixture.
struct KeyRow {
    let key: String
    let shape: [Int]
    let scale: Float
    let offset: Float
    let rule: String

    static func load(_ name: String) throws -> [KeyRow] {
        let text = try String(contentsOfFile: Fixtures.path(name), encoding: .utf8)
        var rows: [KeyRow] = []
        for (n, line) in text.split(separator: "\n").enumerated() {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            if n == 0 { XCTAssertEqual(fields, ["key", "shape", "scale", "offset", "rule"]); continue }
            guard fields.count == 5 else { XCTFail("\(name):\(n + 1): \(fields.count) fields"); continue }
            let shape = fields[1].dropFirst().dropLast().split(separator: ",").map { Int($0)! }
            // %.9g round-trips float32, so parsing straight to Float gives the generator's bits.
            rows.append(KeyRow(key: fields[0], shape: shape, scale: Float(fields[2])!, offset: Float(fields[3])!, rule: fields[4]))
        }
        return rows
    }
}

final class SyntheticWeightsTests: XCTestCase {
    func testFNV1a64AndSplitMix64SanityValues() {
        XCTAssertEqual(FNV1a64.hash("a"), 0xAF63_DC4C_8601_EC8C)
        XCTAssertEqual(FNV1a64.hash(""), FNV1a64.offsetBasis)
        var stream = SplitMix64(seed: 1_234_567)
        XCTAssertEqual(stream.next(), 6_457_827_717_110_365_317)
        XCTAssertEqual(stream.next(), SplitMix64.output(seed: 1_234_567, index: 1))
    }

    /// The README's four test vectors: rule, scale bits, seed, z0..z3 (where given), value bits.
    func testReadmeTestVectors() throws {
        struct Vector { let key: String; let shape: [Int]; let rule: String; let scaleBits: UInt32?; let seed: UInt64; let z: [UInt64]; let bits: [UInt32] }
        let vectors = [
            Vector(key: "blocks.0.attn.qkv.weight", shape: [2304, 768], rule: "R5", scaleBits: 0x3D13_CD3A, seed: 0xB8EE_D840_ED19_9670,
                   z: [0xbbd103ac6dd51741, 0x66a1b7930136ca7f, 0xd34ed82c3e4caab5, 0x273039e4a1698e39],
                   bits: [0x3c8a23e3, 0xbbea57a3, 0x3cc0643c, 0xbccd1a07]),
            Vector(key: "image_encoder.trunk.patch_embed.proj.weight", shape: [96, 3, 7, 7], rule: "R5", scaleBits: 0x3DA8_EA8C, seed: 0xFE6F_EF52_26D7_AF02,
                   z: [0x7376be0c77c0a0d6, 0x4026c111e8d94d5d, 0xae71cff93a434d8c, 0x65dba402e71429db],
                   bits: [0xbc0458fa, 0xbd288443, 0x3cf529ea, 0xbc89fe7f]),
            Vector(key: "blocks.0.ls1.gamma", shape: [768], rule: "R1", scaleBits: nil, seed: 0xC7F4_B928_57E2_EB70,
                   z: [0x0c4a5d31acc9e56c], bits: [0x3e236eb0, 0x3e87fe56, 0x3e77924a, 0x3e28ff10]),
            Vector(key: "norm.weight", shape: [768], rule: "R6", scaleBits: nil, seed: 0xE45E_8831_76C5_CE0F,
                   z: [0x43508a1fbc10d555], bits: [0x3f73dce8, 0x3f67c72d, 0x3f81ce2e, 0x3f76a5bd]),
        ]
        let generator = SyntheticWeights()
        for v in vectors {
            let rule = try XCTUnwrap(SyntheticWeights.rule(for: v.key, shape: v.shape))
            XCTAssertEqual(rule.id, v.rule, v.key)
            if let scaleBits = v.scaleBits { XCTAssertEqual(rule.scale.bitPattern, scaleBits, v.key) }
            XCTAssertEqual(generator.seed(for: v.key), v.seed, v.key)
            for (i, z) in v.z.enumerated() { XCTAssertEqual(SplitMix64.output(seed: v.seed, index: UInt64(i)), z, "\(v.key) z\(i)") }
            let tensor = try generator.tensor(key: v.key, shape: v.shape)
            XCTAssertEqual(tensor.shape, v.shape)
            XCTAssertEqual(Array(tensor.storage.prefix(4)).map(\.bitPattern), v.bits, v.key)
        }
    }

    /// The values against an independent double-precision formulation with explicit roundings:
    /// scale·t is exact in Double (24 × 24 significand bits), so `Float(Double(s)·Double(t))` is the
    /// correctly rounded float32 product, and adding the offset in Double then rounding once equals
    /// the float32 sum. A fused multiply-add would differ from this in the last bit for many elements.
    func testValuesAreTwoSeparatelyRoundedOperations() throws {
        let generator = SyntheticWeights()
        for (key, shape) in [("blocks.3.ls2.gamma", [768]), ("norm.weight", [768]), ("blocks.0.norm1.weight", [768]),
                             ("memory_encoder.fuser.layers.0.gamma", [256])] {
            let rule = try XCTUnwrap(SyntheticWeights.rule(for: key, shape: shape))
            XCTAssertNotEqual(rule.offset, 0)
            let tensor = try generator.tensor(key: key, shape: shape)
            let seed = generator.seed(for: key)
            var fusedWouldDiffer = 0
            for i in 0..<tensor.count {
                let z = SplitMix64.output(seed: seed, index: UInt64(i))
                let t = Double(Int64(z >> 40) * 2 - (1 << 24)) / 16_777_216
                let product = Float(Double(rule.scale) * t)
                let expected = Float(Double(product) + Double(rule.offset))
                XCTAssertEqual(tensor.storage[i].bitPattern, expected.bitPattern, "\(key)[\(i)]")
                if Float(Double(rule.scale) * t + Double(rule.offset)) != expected { fusedWouldDiffer += 1 }
            }
            // Guards the test itself: these tensors contain elements where a fused op gives other bits.
            XCTAssertGreaterThan(fusedWouldDiffer, 0, key)
        }
    }

    private func checkAgainstTSV(_ specs: [TensorSpec], _ name: String, keys: Int, values: Int) throws {
        let rows = try KeyRow.load(name)
        XCTAssertEqual(rows.count, keys)
        XCTAssertEqual(specs.count, rows.count, "\(name): key count")
        for (i, (spec, row)) in zip(specs, rows).enumerated() {
            XCTAssertEqual(spec.name, row.key, "\(name) row \(i + 1): key order")
            XCTAssertEqual(spec.shape, row.shape, "\(name) \(row.key): shape")
            let rule = try XCTUnwrap(SyntheticWeights.rule(for: row.key, shape: row.shape), row.key)
            XCTAssertEqual(rule.id, row.rule, "\(row.key): rule")
            XCTAssertEqual(rule.scale.bitPattern, row.scale.bitPattern, "\(row.key): scale bits")
            XCTAssertEqual(rule.offset.bitPattern, row.offset.bitPattern, "\(row.key): offset bits")
        }
        XCTAssertEqual(specs.reduce(0) { $0 + $1.elementCount }, values, "\(name): value count")
        XCTAssertEqual(rows.reduce(0) { $0 + $1.shape.reduce(1, *) }, values, "\(name): TSV value count")
    }

    func testSAM2HieraSmallKeysMatchTSV() throws {
        try checkAgainstTSV(SAM2Keys.specs(.small), "sam2_hiera_s.keys.tsv", keys: 516, values: 46_044_098)
    }

    func testDINOv2BaseKeysMatchTSV() throws {
        try checkAgainstTSV(DINOv2Keys.specs(.base), "dinov2_vitb14.keys.tsv", keys: 175, values: 86_580_480)
    }

    /// Rule counts per model from the README's rule table.
    func testRuleCountsMatchReadme() throws {
        func counts(_ specs: [TensorSpec]) -> [String: Int] {
            specs.reduce(into: [:]) { $0[SyntheticWeights.rule(for: $1.name, shape: $1.shape)!.id, default: 0] += 1 }
        }
        XCTAssertEqual(counts(SAM2Keys.specs(.small)), ["R0": 3, "R1": 2, "R2": 6, "R3": 9, "R4": 1, "R5": 186, "R6": 63, "R7": 246])
        XCTAssertEqual(counts(DINOv2Keys.specs(.base)), ["R1": 24, "R2": 3, "R5": 49, "R6": 25, "R7": 74])
    }

    /// Other sizes: the published parameter counts of the official checkpoints.
    func testOtherArchitectureSizes() {
        func total(_ specs: [TensorSpec]) -> Int { specs.reduce(0) { $0 + $1.elementCount } }
        XCTAssertEqual(DINOv2Keys.specs(.small).count, 175)
        XCTAssertEqual(total(DINOv2Keys.specs(.small)), 22_056_576)
        XCTAssertEqual(total(DINOv2Keys.specs(.large)), 304_368_640)
        XCTAssertEqual(total(DINOv2Keys.specs(.giant)), 1_136_480_768)
        XCTAssertTrue(DINOv2Keys.specs(.giant).contains(TensorSpec("blocks.39.mlp.w12.weight", [8192, 1536])))
        // SAM 2 model cards: 38.9 M (tiny), 46 M (small), 80.8 M (base+), 224.4 M (large).
        XCTAssertEqual(total(SAM2Keys.specs(.tiny)), 38_946_242)
        XCTAssertEqual(total(SAM2Keys.specs(.basePlus)), 80_833_922)
        XCTAssertEqual(total(SAM2Keys.specs(.large)), 224_430_386)
        XCTAssertEqual(SAM2Keys.specs(.tiny).filter { $0.name.hasPrefix("image_encoder.trunk.blocks.") }.count, 12 * 12 + 3 * 2)
        XCTAssertTrue(SAM2Keys.specs(.basePlus).contains(TensorSpec("image_encoder.trunk.pos_embed", [1, 112, 14, 14])))
        XCTAssertTrue(SAM2Keys.specs(.large).contains(TensorSpec("image_encoder.neck.convs.0.conv.weight", [256, 1152, 1, 1])))
    }

    func testGeneratedStateDictsMatchSpecsAndAreFast() throws {
        let start = Date()
        let dino = try SyntheticWeights().dinov2(.base)
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertEqual(dino.count, 175)
        XCTAssertEqual(dino.parameterCount, 86_580_480)
        XCTAssertEqual(dino.keys, DINOv2Keys.specs(.base).map(\.name))
        try dino.validate(against: DINOv2Keys.specs(.base))
        // The parallel path must give the same bits as the one-tensor path.
        let qkv = try SyntheticWeights().tensor(key: "blocks.0.attn.qkv.weight", shape: [2304, 768])
        XCTAssertEqual(dino["blocks.0.attn.qkv.weight"], qkv)
        XCTAssertEqual(dino["blocks.0.attn.qkv.weight"]!.storage[0].bitPattern, 0x3c8a23e3)
        XCTAssertLessThan(elapsed, 2.0, "DINOv2-B generation took \(elapsed) s")
        print("DINOv2-B synthetic generation: \(String(format: "%.3f", elapsed)) s")

        let sam2 = try SyntheticWeights().sam2(.small)
        XCTAssertEqual(sam2.count, 516)
        XCTAssertEqual(sam2.parameterCount, 46_044_098)
        let obj = try sam2.require("sam_mask_decoder.pred_obj_score_head.layers.2.bias", shape: [1])
        XCTAssertEqual(obj.storage, [2.0])  // R0: scale 0, offset 2
    }

    func testParseSelectsGlobalSeed() throws {
        XCTAssertEqual(try SyntheticWeights.parse("synthetic"), SyntheticWeights(globalSeed: 0))
        XCTAssertEqual(try SyntheticWeights.parse("synthetic:42"), SyntheticWeights(globalSeed: 42))
        XCTAssertEqual(try SyntheticWeights.parse("synthetic:0xff"), SyntheticWeights(globalSeed: 255))
        XCTAssertNil(try SyntheticWeights.parse("weights/sam2_hiera_small.pt"))
        XCTAssertThrowsError(try SyntheticWeights.parse("synthetic:banana"))
        let seeded = SyntheticWeights(globalSeed: 42)
        XCTAssertEqual(seeded.seed(for: "norm.weight"), 0xE45E_8831_76C5_CE0F ^ 42)
        XCTAssertNotEqual(try seeded.tensor(key: "norm.weight", shape: [768]), try SyntheticWeights().tensor(key: "norm.weight", shape: [768]))
    }

    func testStateDictRequireNamesKeyAndShapes() throws {
        var dict = StateDict(source: "test")
        dict.set("a.weight", Tensor(shape: [2, 3]))
        dict.set("a.bias", Tensor(shape: [2]))
        dict.set("b.weight", Tensor(shape: [4]))
        XCTAssertEqual(dict.keys, ["a.weight", "a.bias", "b.weight"])
        XCTAssertNoThrow(try dict.require("a.weight", shape: [2, 3]))
        XCTAssertThrowsError(try dict.require("a.weight", shape: [3, 2])) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("a.weight") && text.contains("[2, 3]") && text.contains("[3, 2]"), text)
        }
        XCTAssertThrowsError(try dict.require("c.weight", shape: [1])) { XCTAssertTrue("\($0)".contains("c.weight")) }
        let stripped = dict.stripping(prefix: "a.")
        XCTAssertEqual(stripped.keys, ["weight", "bias"])
        XCTAssertEqual(stripped.prefixed("sam2.").keys, ["sam2.weight", "sam2.bias"])
        XCTAssertEqual(dict.parameterCount, 12)
        XCTAssertThrowsError(try StateDict(source: "dup", [("x", Tensor(shape: [1])), ("x", Tensor(shape: [1]))]))
        XCTAssertThrowsError(try dict.validate(against: [TensorSpec("a.weight", [2, 3])])) { XCTAssertTrue("\($0)".contains("unexpected 'a.bias'")) }
    }
}

import Foundation
import XCTest
import Checkpoint
import FixtureSupport
import Tensor

final class KeyRoutingTests: XCTestCase {
    private typealias B = TorchFileBuilder
    private typealias P = TorchFileBuilder.P

    /// The sample is a `module.`-wrapped FSSAM-like dict under `model`: `module.sam2.*` and `module.dino.*`.
    func testRoutesCheckpointSample() throws {
        let routed = try RoutedCheckpoint.load(path: Fixtures.path("checkpoint-sample.pt"))
        XCTAssertEqual(routed.contents.format, .torch)
        XCTAssertEqual(routed.contents.container, "model")
        XCTAssertEqual(routed.models.map(\.family), [.sam2, .dinov2])
        XCTAssertTrue(routed.unroutedKeys.isEmpty)
        let sam2 = try XCTUnwrap(routed.model(.sam2))
        XCTAssertEqual(sam2.sourcePrefix, "module.sam2.")
        XCTAssertNil(sam2.architecture)  // a toy, not a real SAM 2
        XCTAssertEqual(sam2.tensors.map(\.name), ["weight", "bias", "fp16", "bf16", "count", "scalar", "flag", "shared_base", "shared_slice", "shared_t"])
        let dino = try routed.stateDict(.dinov2)
        XCTAssertEqual(dino.keys, ["weight", "bias"])
        XCTAssertEqual(try dino.require("weight", shape: [2, 3]).storage, [1, 2, 3, -1, -2, -3])
        XCTAssertEqual(try dino.require("bias", shape: [2]).storage, [0.25, -0.25])
        let sam2Dict = try routed.stateDict(.sam2)
        XCTAssertEqual(try sam2Dict.require("bf16", shape: [2, 2]).storage[1], -3.140625)
        XCTAssertEqual(try sam2Dict.require("shared_t", shape: [6, 4]).storage.prefix(4), [-3, 0, 3, 6])
        XCTAssertEqual(try sam2Dict.require("flag", shape: [3]).storage, [1, 0, 1])
    }

    /// A small synthetic SAM 2 Hiera-T and DINOv2 ViT-S written the ways they are distributed.
    private func sam2Tiny() throws -> StateDict { try SyntheticWeights().sam2(.tiny) }

    func testRoutesBareDINOv2AndDetectsEverySize() throws {
        for config in DINOv2Config.all where config.embedDim <= 1024 {
            // Shapes are what detection reads; a tiny value-less stand-in of the right shapes suffices.
            let tensors = DINOv2Keys.specs(config).map { spec in
                SourceTensor(name: spec.name, dtype: .f32, shape: spec.shape) { Tensor(shape: spec.shape) }
            }
            XCTAssertEqual(ArchitectureDetection.dinov2(tensors), config, config.name)
        }
        let giant = DINOv2Keys.specs(.giant).map { spec in SourceTensor(name: spec.name, dtype: .bf16, shape: spec.shape) { Tensor(shape: spec.shape) } }
        XCTAssertEqual(ArchitectureDetection.dinov2(giant), .giant)
        for config in SAM2Config.all {
            let tensors = SAM2Keys.specs(config).map { spec in SourceTensor(name: spec.name, dtype: .f32, shape: spec.shape) { Tensor(shape: spec.shape) } }
            XCTAssertEqual(ArchitectureDetection.sam2(tensors), config, config.name)
        }

        let dino = try SyntheticWeights().dinov2(.small)
        let path = try B.write([], name: "dinov2_vits14.safetensors")
        try SafetensorsWriter.write(dino, to: path)
        let routed = try RoutedCheckpoint.load(path: path)
        XCTAssertEqual(routed.contents.format, .safetensors)
        let model = try XCTUnwrap(routed.model(.dinov2))
        XCTAssertEqual(model.dinov2Config, .small)
        XCTAssertEqual(model.sourcePrefix, "")
        XCTAssertNil(routed.model(.sam2))
        let loaded = try routed.stateDict(.dinov2)
        try loaded.validate(against: DINOv2Keys.specs(.small))
        XCTAssertEqual(loaded["blocks.3.mlp.fc1.weight"], dino["blocks.3.mlp.fc1.weight"])
        XCTAssertThrowsError(try routed.stateDict(.sam2)) { XCTAssertTrue("\($0)".contains("no sam2 weights")) }
    }

    func testRoutesFineTunedLayoutsWithAndWithoutModulePrefix() throws {
        let sam2 = try sam2Tiny()
        let dino = try SyntheticWeights().dinov2(.small)
        for modulePrefix in ["module.", ""] {
            var pairs: [(String, Tensor)] = []
            for key in sam2.keys { pairs.append((modulePrefix + "sam2." + key, sam2[key]!)) }
            for key in dino.keys { pairs.append((modulePrefix + "dino." + key, dino[key]!)) }
            let path = try B.write([], name: "fssam-\(modulePrefix.isEmpty ? "plain" : "ddp").safetensors")
            try SafetensorsWriter.write(pairs, to: path)
            let routed = try RoutedCheckpoint.load(path: path)
            XCTAssertEqual(Set(routed.models.map(\.family)), [.sam2, .dinov2])
            XCTAssertEqual(routed.model(.sam2)?.sam2Config, .tiny)
            XCTAssertEqual(routed.model(.sam2)?.sourcePrefix, modulePrefix + "sam2.")
            XCTAssertEqual(routed.model(.dinov2)?.dinov2Config, .small)
            let loadedSAM2 = try routed.stateDict(.sam2)
            try loadedSAM2.validate(against: SAM2Keys.specs(.tiny))
            XCTAssertEqual(loadedSAM2["image_encoder.trunk.blocks.11.mlp.layers.1.weight"], sam2["image_encoder.trunk.blocks.11.mlp.layers.1.weight"])
        }
    }

    /// torch-format containers: `{'state_dict': …}` (FSSAM), `{'model': …}` (official SAM 2), bare (DINOv2).
    func testRoutesTorchContainers() throws {
        let values: [Float] = [1, 2, 3, 4, 5, 6]
        let storages = ["0": B.f32(values)]
        func file(_ pickle: [UInt8], _ name: String) throws -> RoutedCheckpoint {
            try RoutedCheckpoint.load(path: B.write(B.checkpoint(pickle: pickle, storages: storages), name: name))
        }
        let linear = P.tensor(storage: "0", numel: 6, size: [2, 3], stride: [3, 1])
        let fssam = P.proto2 + P.emptyDict + P.mark + P.str("epoch") + P.int(5)
            + P.str("state_dict") + P.dict([("module.sam2.sam_mask_decoder.conv_s0.weight", linear), ("module.dino.cls_token", linear), ("module.dino.blocks.0.norm1.weight", linear)])
            + P.str("optimizer") + P.emptyDict + P.setItems + P.stop
        let a = try file(fssam, "fssam.pth")
        XCTAssertEqual(a.contents.container, "state_dict")
        XCTAssertEqual(a.model(.sam2)?.tensors.map(\.name), ["sam_mask_decoder.conv_s0.weight"])
        XCTAssertEqual(a.model(.sam2)?.sourcePrefix, "module.sam2.")
        XCTAssertEqual(a.model(.dinov2)?.tensors.map(\.name), ["cls_token", "blocks.0.norm1.weight"])

        let official = P.proto2 + P.dict([("model", P.dict([("image_encoder.trunk.pos_embed", linear), ("no_obj_ptr", linear)]))]) + P.stop
        let b = try file(official, "sam2_hiera_small.pt")
        XCTAssertEqual(b.contents.container, "model")
        XCTAssertEqual(b.models.map(\.family), [.sam2])
        XCTAssertEqual(try b.stateDict(.sam2).require("no_obj_ptr", shape: [2, 3]).storage, values)

        let bare = P.proto2 + P.dict([("cls_token", linear), ("blocks.0.attn.qkv.weight", linear)]) + P.stop
        let c = try file(bare, "dinov2_vits14_pretrain.pth")
        XCTAssertEqual(c.contents.container, "root")
        XCTAssertEqual(c.models.map(\.family), [.dinov2])

        let unknown = P.proto2 + P.dict([("fc.weight", linear)]) + P.stop
        XCTAssertThrowsError(try file(unknown, "unknown.pt")) { XCTAssertTrue("\($0)".contains("cannot tell which network")) }
        let notTensor = P.proto2 + P.dict([("cls_token", P.int(3))]) + P.stop
        XCTAssertThrowsError(try file(notTensor, "not-tensor.pt")) { XCTAssertTrue("\($0)".contains("['cls_token'] is a int, not a tensor"), "\($0)") }
    }

    func testUnroutedKeysAreReported() throws {
        let t = Tensor(shape: [2], storage: [1, 2])
        let path = try B.write([], name: "extra.safetensors")
        try SafetensorsWriter.write([("sam2.no_obj_ptr", t), ("head.weight", t)], to: path)
        let routed = try RoutedCheckpoint.load(path: path)
        XCTAssertEqual(routed.unroutedKeys, ["head.weight"])
        XCTAssertEqual(routed.models.map(\.family), [.sam2])
    }
}

import Tensor

/// `ImageEncoder` (`backbones/image_encoder.py`): trunk → neck → scalp (spec §2.9). With
/// `scalp = 1` the deepest FPN level (16×16 for a 512 input) is dropped after feeding the top-down
/// sum, leaving `backbone_fpn = [128², 64², 32²]` and `vision_features = backbone_fpn[-1]`.
public struct ImageEncoder: Sendable {
    public let trunk: Hiera
    public let neck: FpnNeck
    public let scalp: Int
    public let positionEncoding: PositionEmbeddingSine

    public struct Output: Sendable {
        /// `[256, H_i, W_i]` per kept level, highest resolution first.
        public var backboneFPN: [Tensor]
        public var visionFeatures: Tensor { backboneFPN[backboneFPN.count - 1] }
        /// The trunk's stage outputs (channels-last), kept for inspection and parity tests.
        public var trunk: [TokenMap]
    }

    /// `w`: weights under `image_encoder.`.
    public init(_ w: ModuleWeights, scalp: Int = 1) throws {
        trunk = try Hiera(w.child("trunk"))
        neck = try FpnNeck(w.child("neck"), backboneChannels: trunk.config.stageDims.reversed())
        self.scalp = scalp
        positionEncoding = PositionEmbeddingSine(numPosFeats: neck.dModel)
    }

    /// `image [3, H, W]`, already normalised (spec §1).
    public func callAsFunction(_ image: Tensor) -> Output {
        let stages = trunk(image)
        let levels = neck(stages)
        return Output(backboneFPN: Array(levels.dropLast(scalp)), trunk: stages)
    }

    /// `vision_pos_enc[i]`: the 256-channel sine encoding of level `i`'s size (a function of the
    /// size only; only the last level's is used by FSSAM, pitfall 7).
    public func positionalEncoding(of level: Tensor) -> Tensor {
        positionEncoding(height: level.shape[level.rank - 2], width: level.shape[level.rank - 1])
    }
}

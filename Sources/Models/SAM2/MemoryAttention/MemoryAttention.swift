import Checkpoint
import Tensor

/// `memory_attention.py::MemoryAttention` (spec §4.3): `x = curr + 0.1·curr_pos` (the only use of
/// the query's position), the layers, and a final LayerNorm (eps 1e-5). Weights under
/// `memory_attention.`; FSSAM runs every cross-attention with its support calibration.
public struct MemoryAttention: Sendable {
    public let layers: [MemoryAttentionLayer]
    public let norm: LayerNorm
    public let dModel: Int
    public let memoryDim: Int

    /// The scale of the query position added once at the input (`pos_enc_at_input=True`).
    public static let inputPositionScale: Float = 0.1

    /// `w`: the `memory_attention` module (e.g. `ModuleWeights(sam2).child("memory_attention")`).
    public init(_ w: ModuleWeights) throws {
        dModel = try w("norm.weight").shape.first ?? 0
        memoryDim = try w("layers.0.cross_attn_image.k_proj.weight").shape.last ?? 0
        var layers: [MemoryAttentionLayer] = []
        while w.contains("layers.\(layers.count).norm1.weight") {
            layers.append(try MemoryAttentionLayer(w.child("layers.\(layers.count)"), dModel: dModel, memoryDim: memoryDim))
        }
        self.layers = layers
        norm = try LayerNorm(w.child("norm"), dim: dModel, eps: MemoryAttentionLayer.normEpsilon)
    }

    /// From a SAM 2 state dict (`sam2_hiera_*.pt['model']` naming).
    public init(sam2 stateDict: StateDict) throws {
        try self.init(ModuleWeights(stateDict).child("memory_attention"))
    }

    public struct Output: Sendable {
        /// `pix_feat_with_mem`: `[1, d_model, H, W]`.
        public var fused: Tensor
        /// Each layer's output, token-major `[HW, d_model]` (= batch-first for one query).
        public var layerOutputs: [Tensor]
    }

    /// Fuses the query's image features with the memory bank.
    /// - `current`, `currentPos`: the query's 32×32 level and its sine position, `[d_model, H, W]`
    ///   or `[1, d_model, H, W]`.
    /// - `supportMasks`: each support's calibration mask (`MemoryBank.calibrationMask`), in
    ///   support order, `H·W` values each. `released` reads only support 0's.
    /// - `calibration`: nil runs plain SAM 2 cross-attention.
    public func callAsFunction(current: Tensor, currentPos: Tensor, bank: MemoryBank, supportMasks: [Tensor],
                               calibration: SupportCalibration? = .released) throws -> Output {
        let (tokens, h, w) = try TokenLayout.tokens(fromMap: current, name: "memory attention input")
        let (pos, ph, pw) = try TokenLayout.tokens(fromMap: currentPos, name: "memory attention input position")
        guard tokens.shape[1] == dModel, pos.shape == tokens.shape, ph == h, pw == w else {
            throw ModelError("memory attention input", "features \(current.shape) / position \(currentPos.shape) do not fit d_model \(dModel)")
        }
        guard bank.height == h, bank.width == w, bank.memoryDim == memoryDim else {
            throw ModelError("memory bank", "\(bank.memoryDim)-d memories on \(bank.height)x\(bank.width), expected \(memoryDim)-d on \(h)x\(w)")
        }
        if calibration != nil {
            guard supportMasks.count == bank.supportCount, supportMasks.allSatisfy({ $0.count == h * w }) else {
                throw ModelError("calibration masks", "need \(bank.supportCount) masks of \(h)x\(w), got \(supportMasks.map(\.shape))")
            }
        }
        var x = tokens
        x.withUnsafeMutableBufferPointer { dst in
            pos.withUnsafeBufferPointer { p in
                for i in 0..<dst.count { dst[i] += Self.inputPositionScale * p[i] }
            }
        }
        var memoryWithPos = bank.memory
        memoryWithPos.withUnsafeMutableBufferPointer { dst in
            bank.memoryPos.withUnsafeBufferPointer { p in for i in 0..<dst.count { dst[i] += p[i] } }
        }
        let rope = AxialRoPE(dim: layers.first?.selfAttn.internalDim ?? dModel, width: w, height: h)
        let masks = supportMasks.map(\.storage)
        var outputs: [Tensor] = []
        for layer in layers {
            x = layer(x, memory: bank.memory, memoryWithPos: memoryWithPos, numObjPtrTokens: bank.numObjPtrTokens,
                      rope: rope, calibration: calibration, supportMasks: masks)
            outputs.append(x)
        }
        let normed = norm(x)
        return Output(fused: TokenLayout.map(fromTokens: normed, channels: dModel, height: h, width: w),
                      layerOutputs: outputs)
    }
}

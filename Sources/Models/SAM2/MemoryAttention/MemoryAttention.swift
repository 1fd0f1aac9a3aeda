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
    /// The RoPE table of SAM 2's 32×32 memory grid (at 512), built once: 128 Ki sines and cosines.
    let gridRoPE: AxialRoPE

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
        gridRoPE = AxialRoPE(dim: layers.first?.selfAttn.internalDim ?? dModel, width: 32, height: 32)
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

    /// Layer 0 up to what the refined query memory changes: its self-attention (the query's own
    /// features) and its cross-attention over the fixed memory tokens (support blocks, pointers).
    /// Computed once per query and support set, it serves every IMR setting of that query.
    public struct Prefix: Sendable, Equatable {
        /// Layer 0's tokens after its self-attention residual, `[HW, d_model]`.
        public var afterSelfAttention: Tensor
        /// Layer 0's cross-attention segment over `MemoryBank.Fixed` (values in memory space, `mem_dim` wide).
        public var fixedSegment: AttentionSegment

        public init(afterSelfAttention: Tensor, fixedSegment: AttentionSegment) {
            self.afterSelfAttention = afterSelfAttention
            self.fixedSegment = fixedSegment
        }
    }

    /// The prefix of the query features `current`, `currentPos` (`[d_model, H, W]` or
    /// `[1, d_model, H, W]`) against the fixed memory; see `callAsFunction` for the masks and calibration.
    public func prefix(current: Tensor, currentPos: Tensor, fixed: MemoryBank.Fixed, supportMasks: [Tensor],
                       calibration: SupportCalibration? = .released) throws -> Prefix {
        guard let first = layers.first else { throw ModelError("memory attention", "has no layers") }
        let (x, h, w) = try inputTokens(current: current, currentPos: currentPos)
        let context = try self.context(fixed: fixed, queryMemory: nil, queryMemoryPos: nil, height: h, width: w,
                                       supportMasks: supportMasks, calibration: calibration)
        let afterSelfAttention = first.selfAttentionResidual(x, rope: context.rope)
        return Prefix(afterSelfAttention: afterSelfAttention,
                      fixedSegment: first.fixedMemorySegment(afterSelfAttention, context: context))
    }

    /// Fuses the query's image features with the memory bank: `prefix`, then the rest.
    /// - `current`, `currentPos`: the query's 32×32 level and its sine position, `[d_model, H, W]`
    ///   or `[1, d_model, H, W]`.
    /// - `supportMasks`: each support's calibration mask (`MemoryBank.calibrationMask`), in
    ///   support order, `H·W` values each. `released` reads only support 0's.
    /// - `calibration`: nil runs plain SAM 2 cross-attention.
    public func callAsFunction(current: Tensor, currentPos: Tensor, bank: MemoryBank, supportMasks: [Tensor],
                               calibration: SupportCalibration? = .released) throws -> Output {
        let prefix = try self.prefix(current: current, currentPos: currentPos, fixed: bank.fixed, supportMasks: supportMasks,
                                     calibration: calibration)
        return try self(prefix: prefix, bank: bank, supportMasks: supportMasks, calibration: calibration)
    }

    /// The memory attention from a `prefix` computed for the same query features, fixed memory,
    /// masks and calibration as `bank` and the arguments here.
    public func callAsFunction(prefix: Prefix, bank: MemoryBank, supportMasks: [Tensor],
                               calibration: SupportCalibration? = .released) throws -> Output {
        let (h, w) = (bank.height, bank.width)
        let segment = prefix.fixedSegment
        guard prefix.afterSelfAttention.shape == [h * w, dModel], segment.queries == h * w,
              segment.valueDim == memoryDim else {
            throw ModelError("memory attention prefix", "tokens \(prefix.afterSelfAttention.shape), segment \(segment.queries)×\(segment.valueDim) do not fit \(h * w) tokens of d_model \(dModel) and \(memoryDim)-d memories")
        }
        let context = try self.context(fixed: bank.fixed, queryMemory: bank.queryMemory, queryMemoryPos: bank.queryMemoryPos,
                                       height: h, width: w, supportMasks: supportMasks, calibration: calibration)
        var x = prefix.afterSelfAttention
        var outputs: [Tensor] = []
        for (i, layer) in layers.enumerated() {
            x = i == 0 ? layer.crossAttentionAndFeedForward(x, context: context, fixedSegment: segment)
                       : layer(x, context: context)
            outputs.append(x)
        }
        let normed = norm(x)
        return Output(fused: TokenLayout.map(fromTokens: normed, channels: dModel, height: h, width: w),
                      layerOutputs: outputs)
    }

    /// `curr + 0.1·curr_pos`, token-major.
    private func inputTokens(current: Tensor, currentPos: Tensor) throws -> (tokens: Tensor, height: Int, width: Int) {
        let (tokens, h, w) = try TokenLayout.tokens(fromMap: current, name: "memory attention input")
        let (pos, ph, pw) = try TokenLayout.tokens(fromMap: currentPos, name: "memory attention input position")
        guard tokens.shape[1] == dModel, pos.shape == tokens.shape, ph == h, pw == w else {
            throw ModelError("memory attention input", "features \(current.shape) / position \(currentPos.shape) do not fit d_model \(dModel)")
        }
        var x = tokens
        x.withUnsafeMutableBufferPointer { dst in
            pos.withUnsafeBufferPointer { p in
                for i in 0..<dst.count { dst[i] += Self.inputPositionScale * p[i] }
            }
        }
        return (x, h, w)
    }

    private func context(fixed: MemoryBank.Fixed, queryMemory: Tensor?, queryMemoryPos: Tensor?, height h: Int, width w: Int,
                         supportMasks: [Tensor], calibration: SupportCalibration?) throws -> MemoryContext {
        guard fixed.height == h, fixed.width == w, fixed.memoryDim == memoryDim else {
            throw ModelError("memory bank", "\(fixed.memoryDim)-d memories on \(fixed.height)x\(fixed.width), expected \(memoryDim)-d on \(h)x\(w)")
        }
        if calibration != nil {
            guard supportMasks.count == fixed.supportCount, supportMasks.allSatisfy({ $0.count == h * w }) else {
                throw ModelError("calibration masks", "need \(fixed.supportCount) masks of \(h)x\(w), got \(supportMasks.map(\.shape))")
            }
        }
        let rope = (gridRoPE.width, gridRoPE.height) == (w, h) ? gridRoPE
            : AxialRoPE(dim: layers.first?.selfAttn.internalDim ?? dModel, width: w, height: h)
        return MemoryContext(fixed: fixed, queryMemory: queryMemory, queryMemoryPos: queryMemoryPos, rope: rope,
                             calibration: calibration, supportMasks: supportMasks.map(\.storage))
    }
}

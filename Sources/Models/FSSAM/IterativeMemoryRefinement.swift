import Tensor

/// FSSAM's Iterative Memory Refinement (`model/FSSAM.py::mem_refine`, FSSAM5s for k > 1; spec
/// §1 step 9, §1b), `ver_refine = "v1"`. Everything at the memory grid (32×32):
///
/// - `P_qs` = `generate_prior_mem(query FG memory, support memory, support mask)`, once; for
///   k > 1 the mean over shots of each shot's min-maxed map.
/// - per iteration: `P_qq` = `generate_prior_mem(query FG memory, current Disc memory, current
///   Disc prior)`; `P = ReLU(P_qq + (P_qs − 1))`; Disc memory ← `FG·P + Disc·(1 − P)`;
///   Disc prior ← `minmax(FG prior·P + Disc prior·(1 − P))`.
///
/// Only the refined Disc memory is used downstream; the query FG memory, the support memories,
/// the FG prior and the Disc pointer are never changed.
public struct IterativeMemoryRefinement: Sendable {
    /// `num_refine` (3 in the released scripts).
    public var iterations: Int

    public init(iterations: Int = 3) { self.iterations = iterations }

    public struct Iteration: Sendable {
        /// `P_qq` `[1, 1, H, W]`.
        public var queryQueryPrior: Tensor
        /// `P` `[1, 1, H, W]`.
        public var mixing: Tensor
        /// Disc memory after this iteration `[1, C, H, W]`.
        public var discMemory: Tensor
        /// Disc prior after this iteration `[1, 1, H, W]`.
        public var discPrior: Tensor
    }

    public struct Result: Sendable {
        /// The refined Disc memory `[1, C, H, W]`: the query memory of the bank.
        public var refinedMemory: Tensor
        /// `P_qs` `[1, 1, H, W]`.
        public var querySupportPrior: Tensor
        public var steps: [Iteration]
    }

    /// A 512² mask or prior to the memory grid, as FSSAM does before IMR: bilinear,
    /// align_corners=True (not the calibration's nearest).
    public static func downsample(_ map: Tensor, height: Int = 32, width: Int = 32) -> Tensor {
        Resampling.bilinear(map, height: height, width: width, alignCorners: true)
    }

    /// - `supportMemories`: k support memories `[C, H, W]` / `[1, C, H, W]`, or one `[k, C, H, W]`.
    /// - `supportMasks`: k masks at the grid (`downsample` of the cleaned 0/1 masks), or one `[k, 1, H, W]`.
    /// - `queryForegroundMemory`, `queryDiscMemory`: `[1, C, H, W]`; priors `[1, 1, H, W]` at the grid.
    public func callAsFunction(supportMemories: [Tensor], supportMasks: [Tensor], queryForegroundMemory: Tensor,
                               queryDiscMemory: Tensor, foregroundPrior: Tensor, discPrior: Tensor) throws -> Result {
        let fg = queryForegroundMemory.storage
        let pixels = foregroundPrior.count
        guard foregroundPrior.rank >= 2, pixels > 0, fg.count % pixels == 0 else {
            throw ModelError("IMR query FG memory", "\(queryForegroundMemory.shape) does not fit a \(foregroundPrior.shape) grid")
        }
        let channels = fg.count / pixels
        let supports = try Self.split(supportMemories, each: channels * pixels, name: "IMR support memories")
        let masks = try Self.split(supportMasks, each: pixels, name: "IMR support masks")
        guard supports.count == masks.count, !supports.isEmpty else {
            throw ModelError("IMR supports", "\(supports.count) memories for \(masks.count) masks")
        }
        for (tensor, name) in [(queryDiscMemory, "IMR query Disc memory"), (discPrior, "IMR Disc prior")]
        where tensor.count != (name.hasSuffix("memory") ? channels * pixels : pixels) {
            throw ModelError(name, "shape \(tensor.shape) does not match the FG memory \(queryForegroundMemory.shape)")
        }
        let (h, w) = (foregroundPrior.shape[foregroundPrior.rank - 2], foregroundPrior.shape[foregroundPrior.rank - 1])
        let mapShape = [channels, h, w]
        let queryMap = Tensor(shape: mapShape, storage: fg)

        // P_qs: computed once; k > 1 averages the per-shot min-maxed maps (FSSAM5s).
        var querySupport = [Float](repeating: 0, count: pixels)
        for (memory, mask) in zip(supports, masks) {
            let map = Self.generatePriorMemory(query: queryMap, support: Tensor(shape: mapShape, storage: memory), mask: mask)
            for p in 0..<pixels { querySupport[p] += map[p] }
        }
        let shotCount = Float(supports.count)
        querySupport = querySupport.map { $0 / shotCount }

        let priorFG = foregroundPrior.storage
        var disc = queryDiscMemory.storage
        var prior = discPrior.storage
        let gridShape = [1, 1, h, w], memoryShape = [1, channels, h, w]
        var steps: [Iteration] = []
        for _ in 0..<iterations {
            let queryQuery = Self.generatePriorMemory(query: queryMap, support: Tensor(shape: mapShape, storage: disc), mask: prior)
            let mixing = (0..<pixels).map { p -> Float in
                let v = queryQuery[p] + (querySupport[p] - 1)
                return v < 0 ? 0 : v
            }
            for c in 0..<channels {
                for p in 0..<pixels {
                    let i = c * pixels + p
                    disc[i] = fg[i] * mixing[p] + disc[i] * (1 - mixing[p])
                }
            }
            for p in 0..<pixels { prior[p] = priorFG[p] * mixing[p] + prior[p] * (1 - mixing[p]) }
            PseudoPromptGenerator.minMax(&prior)
            steps.append(Iteration(queryQueryPrior: Tensor(shape: gridShape, storage: queryQuery),
                                   mixing: Tensor(shape: gridShape, storage: mixing),
                                   discMemory: Tensor(shape: memoryShape, storage: disc),
                                   discPrior: Tensor(shape: gridShape, storage: prior)))
        }
        return Result(refinedMemory: Tensor(shape: memoryShape, storage: disc),
                      querySupportPrior: Tensor(shape: gridShape, storage: querySupport), steps: steps)
    }

    /// `generate_prior_mem`: `minmax(cos_sim(query, Weighted_GAP(support, mask)))` over the grid
    /// (the final same-size interpolation is an identity). Maps are `[C, H, W]`.
    static func generatePriorMemory(query: Tensor, support: Tensor, mask: [Float]) -> [Float] {
        let prototype = PseudoPromptGenerator.weightedGAP(support, mask: mask)
        var similarity = PseudoPromptGenerator.cosineSimilarity(query, prototype: prototype)
        PseudoPromptGenerator.minMax(&similarity)
        return similarity
    }

    /// Per-shot storages from either one stacked tensor or one tensor per shot.
    static func split(_ tensors: [Tensor], each: Int, name: String) throws -> [[Float]] {
        var out: [[Float]] = []
        for (i, t) in tensors.enumerated() {
            guard t.count % each == 0, t.count > 0 else {
                throw ModelError(name, "entry \(i) has shape \(t.shape), not a multiple of \(each) values")
            }
            for s in 0..<(t.count / each) { out.append(Array(t.storage[(s * each)..<((s + 1) * each)])) }
        }
        return out
    }
}

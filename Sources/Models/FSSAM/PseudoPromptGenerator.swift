import Tensor

/// FSSAM's Pseudo Prompt Generator: the training-free FG and Disc priors built from DINOv2
/// features (spec §1 step 3, §1b), for any number of shots k ≥ 1 with FSSAM5s semantics
/// (per-shot min-max at the feature grid and at full size, then the mean over shots), which
/// equal FSSAM's for k = 1.
public struct PseudoPromptGenerator: Sendable {
    /// The intermediate maps of one support shot, all `[1, 1, h, w]` at the feature grid.
    public struct Shot: Sendable {
        public var supportMask: Tensor
        public var foreground: Tensor
        public var background: Tensor
    }

    public struct Priors: Sendable {
        /// The shot-averaged FG prior `[1, 1, S, S]` (not re-normalised).
        public var foreground: Tensor
        /// The shot-averaged Disc prior `[1, 1, S, S]`.
        public var discriminative: Tensor
        /// Each shot's Disc prior `[1, k, S, S]`, min-maxed on its own.
        public var discriminativePerShot: Tensor
        public var shots: [Shot]
    }

    /// `Weighted_GAP`'s area epsilon: added to the mask's pixel count, not to a mean.
    public static let areaEpsilon: Float = 0.0005
    public static let cosineEpsilon: Float = 1e-7
    public static let minMaxEpsilon: Float = 1e-7

    /// Output size of the priors (the network input size).
    public var outputSize: Int

    public init(outputSize: Int = 512) { self.outputSize = outputSize }

    /// A label map (0/1, 255 = ignore) as FSSAM's float support mask: 255 becomes background.
    public static func supportMask(label: [UInt8], height: Int, width: Int) -> Tensor {
        precondition(label.count == height * width, "support label has \(label.count) pixels, not \(height)x\(width)")
        return Tensor(shape: [1, 1, height, width], storage: label.map { $0 == 255 ? 0 : Float($0) })
    }

    /// Priors from the query's features `[C, h, w]`, and per shot the support features `[C, h, w]`
    /// and the cleaned support mask `[1, 1, S, S]` (see `supportMask`).
    public func callAsFunction(query: Tensor, supports: [(feature: Tensor, mask: Tensor)]) -> Priors {
        precondition(!supports.isEmpty, "priors need at least one support shot")
        let (c, gh, gw) = Self.featureGeometry(query)
        let shots = supports.enumerated().map { index, support -> Shot in
            let (sc, sh, sw) = Self.featureGeometry(support.feature)
            precondition(sc == c && sh == gh && sw == gw, "support \(index) features \(support.feature.shape) do not match the query's \(query.shape)")
            // Support mask resized to the feature grid (bilinear, align_corners=True).
            let mask = Resampling.bilinear(support.mask.reshaped([1, 1, support.mask.shape[support.mask.rank - 2], support.mask.shape[support.mask.rank - 1]]),
                                           height: gh, width: gw, alignCorners: true)
            let fgProto = Self.weightedGAP(support.feature, mask: mask.storage)
            let bgProto = Self.weightedGAP(support.feature, mask: mask.storage.map { 1 - $0 })
            var fg = Self.cosineSimilarity(query, prototype: fgProto)
            var bg = Self.cosineSimilarity(query, prototype: bgProto)
            Self.minMax(&fg)
            Self.minMax(&bg)
            return Shot(supportMask: mask, foreground: Tensor(shape: [1, 1, gh, gw], storage: fg),
                        background: Tensor(shape: [1, 1, gh, gw], storage: bg))
        }
        return priors(shots: shots)
    }

    /// The full-size part: from each shot's grid maps to the averaged FG and Disc priors.
    /// Per shot: bilinear (align_corners=True) up to `outputSize`, `ReLU(FG − BG)`, min-max over
    /// all pixels; then the mean over shots of FG and of Disc.
    public func priors(shots: [Shot]) -> Priors {
        let s = outputSize, pixels = s * s, k = shots.count
        var fgSum = [Float](repeating: 0, count: pixels)
        var aeSum = [Float](repeating: 0, count: pixels)
        var aePerShot = [Float](repeating: 0, count: k * pixels)
        for (i, shot) in shots.enumerated() {
            let fg = Resampling.bilinear(shot.foreground, height: s, width: s, alignCorners: true).storage
            let bg = Resampling.bilinear(shot.background, height: s, width: s, alignCorners: true).storage
            var corr = zip(fg, bg).map { max($0 - $1, 0) }
            Self.minMax(&corr)
            aePerShot.replaceSubrange((i * pixels)..<((i + 1) * pixels), with: corr)
            for p in 0..<pixels { fgSum[p] += fg[p]; aeSum[p] += corr[p] }
        }
        let shotCount = Float(k)
        return Priors(foreground: Tensor(shape: [1, 1, s, s], storage: fgSum.map { $0 / shotCount }),
                      discriminative: Tensor(shape: [1, 1, s, s], storage: aeSum.map { $0 / shotCount }),
                      discriminativePerShot: Tensor(shape: [1, k, s, s], storage: aePerShot),
                      shots: shots)
    }

    // MARK: Building blocks (spec §0)

    static func featureGeometry(_ feature: Tensor) -> (channels: Int, height: Int, width: Int) {
        let dims = Array(feature.shape.drop { $0 == 1 && feature.rank > 3 })
        precondition(dims.count == 3, "features must be [C, h, w] (optionally [1, C, h, w]), got \(feature.shape)")
        return (dims[0], dims[1], dims[2])
    }

    /// `Weighted_GAP`: `Σ(f·m) / (Σm + 0.0005)` per channel, with FSSAM's operation order
    /// (`avg_pool(f·m)·H·W / (avg_pool(m)·H·W + 0.0005)`, sums in row-major order).
    public static func weightedGAP(_ feature: Tensor, mask: [Float]) -> [Float] {
        let (c, gh, gw) = featureGeometry(feature)
        let pixels = gh * gw
        precondition(mask.count == pixels, "mask has \(mask.count) values for a \(gh)x\(gw) grid")
        let (h, w) = (Float(gh), Float(gw))
        var maskSum: Float = 0
        for m in mask { maskSum += m }
        let area = maskSum / Float(pixels) * h * w + areaEpsilon
        return feature.withUnsafeBufferPointer { f in
            (0..<c).map { ch in
                var sum: Float = 0
                let plane = f.baseAddress! + ch * pixels
                for p in 0..<pixels { sum += plane[p] * mask[p] }
                return sum / Float(pixels) * h * w / area
            }
        }
    }

    /// `cos_sim`: `(p·q) / (‖p‖·‖q‖ + 1e-7)` per query position, norms over channels.
    /// Dot products and norms are accumulated in double (closest to the exact value).
    public static func cosineSimilarity(_ query: Tensor, prototype: [Float]) -> [Float] {
        let (c, gh, gw) = featureGeometry(query)
        precondition(prototype.count == c, "prototype has \(prototype.count) channels, features \(c)")
        let pixels = gh * gw
        let protoNorm = Float(prototype.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot())
        return query.withUnsafeBufferPointer { q in
            var dots = [Double](repeating: 0, count: pixels)
            var norms = [Double](repeating: 0, count: pixels)
            for ch in 0..<c {
                let plane = q.baseAddress! + ch * pixels
                let pc = Double(prototype[ch])
                for p in 0..<pixels {
                    let v = Double(plane[p])
                    dots[p] += v * pc
                    norms[p] += v * v
                }
            }
            return (0..<pixels).map { p in
                Float(dots[p]) / (protoNorm * Float(norms[p].squareRoot()) + cosineEpsilon)
            }
        }
    }

    /// `(x − min) / (max − min + 1e-7)` over all of `x`.
    public static func minMax(_ x: inout [Float]) {
        guard let lo = x.min(), let hi = x.max() else { return }
        let range = hi - lo + minMaxEpsilon
        for i in x.indices { x[i] = (x[i] - lo) / range }
    }
}

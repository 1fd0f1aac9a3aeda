import Foundation
import Tensor

/// `PositionEmbeddingSine` (`position_encoding.py`, spec §2.10) with `normalize=True`,
/// `scale=2π`, `temperature=10000`: `[num_pos_feats, H, W]`, the y half first, sin/cos
/// interleaved per frequency pair. It has no weights and depends only on the map size, so each
/// size is computed once. Every step is float32, in PyTorch's order, so the table matches the
/// reference to the last ulp or so of sin/cos/pow.
public final class PositionEmbeddingSine: Sendable {
    public let numPosFeats: Int
    public let temperature: Float
    private let cache = PositionCache()

    /// `numPosFeats`: the output channels (256 for the image encoder, 64 for the memory encoder).
    public init(numPosFeats: Int, temperature: Float = 10000) {
        precondition(numPosFeats % 2 == 0, "PositionEmbeddingSine needs an even channel count, got \(numPosFeats)")
        self.numPosFeats = numPosFeats
        self.temperature = temperature
    }

    public func callAsFunction(height: Int, width: Int) -> Tensor {
        cache.value(for: [height, width]) { encode(height: height, width: width) }
    }

    private func encode(height: Int, width: Int) -> Tensor {
        let f = numPosFeats / 2
        let eps: Float = 1e-6
        let scale = Float(2 * Double.pi)
        // dim_t = temperature ** (2 * (k // 2) / F), each operation rounded to float32.
        let dimT: [Float] = (0..<f).map { k in
            Foundation.pow(temperature, 2 * (Float(k) / 2).rounded(.down) / Float(f))
        }
        // Normalised positions 1..n over (n + eps), times 2π (cumsum of a mask of ones).
        func embed(_ n: Int) -> [Float] { (0..<n).map { Float($0 + 1) / (Float(n) + eps) * scale } }
        // One axis: table[k][i] = sin or cos (pos_i / dim_t[k]).
        func table(_ positions: [Float]) -> [[Float]] {
            (0..<f).map { k in
                positions.map { p in
                    let a = p / dimT[k]
                    return k % 2 == 0 ? Foundation.sin(a) : Foundation.cos(a)
                }
            }
        }
        let ys = table(embed(height)), xs = table(embed(width))
        let plane = height * width
        return Tensor(shape: [2 * f, height, width]) { out in
            for k in 0..<f {
                let yPlane = out.baseAddress! + k * plane, xPlane = out.baseAddress! + (f + k) * plane
                for y in 0..<height {
                    for x in 0..<width {
                        yPlane[y * width + x] = ys[k][y]
                        xPlane[y * width + x] = xs[k][x]
                    }
                }
            }
        }
    }
}

import Foundation
import Tensor

/// `position_encoding.py::PositionEmbeddingSine` (normalize=True, scale 2π, temperature 10000) as
/// the memory encoder uses it: `numPosFeats` channels (64) for an h×w map, independent of the
/// map's values. Channels are `[PE_y (F), PE_x (F)]`, F = numPosFeats/2, sin/cos alternating per
/// pair (pitfall 8). Named apart from the image encoder's copy, which the Hiera port owns.
public struct MemoryPositionEncoding: Sendable {
    public let numPosFeats: Int
    public let temperature: Float

    public init(numPosFeats: Int = 64, temperature: Float = 10000) {
        self.numPosFeats = numPosFeats
        self.temperature = temperature
    }

    /// `[1, numPosFeats, h, w]`, every op in float32 as PyTorch.
    public func callAsFunction(height h: Int, width w: Int) -> Tensor {
        let f = numPosFeats / 2
        let scale = Float(2 * Double.pi)
        // dim_t = T ** (2 * (k // 2) / F)
        let dimT = (0..<f).map { k in powf(temperature, Float(2 * (k / 2)) / Float(f)) }
        // embed = cumsum / (last + 1e-6) * 2π; the +1e-6 is added in float32 (a no-op at 32).
        func embed(_ i: Int, _ n: Int) -> Float { Float(i + 1) / (Float(n) + Float(1e-6)) * scale }
        func encode(_ v: Float, _ k: Int) -> Float { k % 2 == 0 ? sin(v / dimT[k]) : cos(v / dimT[k]) }
        return Tensor(shape: [1, 2 * f, h, w]) { out in
            for k in 0..<f {
                for i in 0..<h {
                    let py = encode(embed(i, h), k)
                    for j in 0..<w {
                        out[(k * h + i) * w + j] = py
                        out[((f + k) * h + i) * w + j] = encode(embed(j, w), k)
                    }
                }
            }
        }
    }
}

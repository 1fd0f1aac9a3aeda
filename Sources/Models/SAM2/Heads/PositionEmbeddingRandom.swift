import Foundation
import Tensor

/// `prompt_encoder.py::PositionEmbeddingRandom`: random-Fourier position encoding with the
/// buffer `positional_encoding_gaussian_matrix [2, F]`. Only the dense grid (`get_dense_pe`) is
/// live in FSSAM: no point prompts are ever given.
public struct PositionEmbeddingRandom: Sendable {
    public let gaussianMatrix: Tensor

    public init(_ w: ModuleWeights, numPosFeats: Int = 128) throws {
        gaussianMatrix = try w("positional_encoding_gaussian_matrix", shape: [2, numPosFeats])
    }

    /// `forward((h, w))` → `[2F, h, w]`: for pixel centres `c = 2·((i+0.5)/n) − 1`,
    /// `p = 2π·(cx·G[0] + cy·G[1])`, channels `[sin p, cos p]`. float32 throughout, as PyTorch.
    public func grid(height h: Int, width w: Int) -> Tensor {
        let f = gaussianMatrix.shape[1]
        let g = gaussianMatrix.storage
        let twoPi = Float(2 * Double.pi)   // `2 * np.pi` is a Python double, used as a float32 scalar
        return Tensor(shape: [2 * f, h, w]) { out in
            for i in 0..<h {
                // `grid.cumsum(0) - 0.5` is exact for these small integers; then `/ h`.
                let cy = 2 * ((Float(i + 1) - 0.5) / Float(h)) - 1
                for j in 0..<w {
                    let cx = 2 * ((Float(j + 1) - 0.5) / Float(w)) - 1
                    for c in 0..<f {
                        let p = twoPi * (cx * g[c] + cy * g[f + c])
                        out[(c * h + i) * w + j] = sin(p)
                        out[((f + c) * h + i) * w + j] = cos(p)
                    }
                }
            }
        }
    }
}

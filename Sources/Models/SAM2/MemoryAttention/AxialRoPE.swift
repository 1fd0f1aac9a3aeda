import Foundation
import Tensor

/// SAM 2's axial rotary position table (`position_encoding.py::compute_axial_cis`) and its
/// application (`apply_rotary_enc`), spec §4.5.
///
/// Channel pairs `(2j, 2j+1)` are one complex number (adjacent channels, not a half split).
/// The first `dim/4` pairs rotate with the token's x, the next `dim/4` with its y, so token
/// `t = y·W + x` has the angles `[x·f | y·f]`. Angles, cos and sin are float32, as PyTorch
/// builds them.
public struct AxialRoPE: Sendable {
    public let dim: Int
    public let width: Int
    public let height: Int
    /// `cos θ[t, j]`, `sin θ[t, j]` for `t < width·height`, `j < dim/2`, row-major.
    public let cosines: [Float]
    public let sines: [Float]

    public var tokens: Int { width * height }
    public var pairs: Int { dim / 2 }

    public init(dim: Int, width: Int, height: Int, theta: Float = 10000) {
        precondition(dim % 4 == 0, "RoPE dim \(dim) must be a multiple of 4")
        self.dim = dim
        self.width = width
        self.height = height
        let quarter = dim / 4
        let frequencies = Self.frequencies(dim: dim, theta: theta)
        var cosines = [Float](repeating: 0, count: width * height * dim / 2)
        var sines = cosines
        for t in 0..<(width * height) {
            let x = Float(t % width), y = Float(t / width)
            for j in 0..<quarter {
                let ax = x * frequencies[j], ay = y * frequencies[j]
                cosines[t * 2 * quarter + j] = Foundation.cos(ax)
                sines[t * 2 * quarter + j] = Foundation.sin(ax)
                cosines[t * 2 * quarter + quarter + j] = Foundation.cos(ay)
                sines[t * 2 * quarter + quarter + j] = Foundation.sin(ay)
            }
        }
        self.cosines = cosines
        self.sines = sines
    }

    /// `1 / theta^(arange(0, dim, 4)[:dim/4] / dim)`, float32 as `torch.pow(float, tensor)`.
    public static func frequencies(dim: Int, theta: Float = 10000) -> [Float] {
        (0..<(dim / 4)).map { k in 1 / Foundation.pow(theta, Float(4 * k) / Float(dim)) }
    }

    /// Rotates `rows` vectors of `dim` channels in place (row stride `ld`). Row `r` uses the
    /// angles of token `r mod tokens`: memory keys span several 32×32 frames that all share one
    /// grid (`repeat_freqs_k`).
    public func apply(_ x: UnsafeMutablePointer<Float>, rows: Int, ld: Int) {
        let pairs = pairs, tokens = tokens
        nonisolated(unsafe) let base = x
        cosines.withUnsafeBufferPointer { cs in
            sines.withUnsafeBufferPointer { sn in
                nonisolated(unsafe) let (c0, s0) = (cs.baseAddress!, sn.baseAddress!)
                ComputeThreads.parallelFor((rows + 255) / 256) { task in
                    for r in (task * 256)..<min(rows, (task + 1) * 256) {
                        let row = base + r * ld
                        let c = c0 + (r % tokens) * pairs, s = s0 + (r % tokens) * pairs
                        for j in 0..<pairs {
                            // (re + i·im)·(cos + i·sin), PyTorch's complex product.
                            let re = row[2 * j], im = row[2 * j + 1]
                            row[2 * j] = re * c[j] - im * s[j]
                            row[2 * j + 1] = re * s[j] + im * c[j]
                        }
                    }
                }
            }
        }
    }

    /// `[tokens, dim]` rotated (rows beyond one frame wrap around the grid); a temporary `x` is
    /// rotated in place.
    public func callAsFunction(_ x: consuming Tensor) -> Tensor {
        var out = x
        let d = dim
        out.withUnsafeMutableBufferPointer { apply($0.baseAddress!, rows: $0.count / d, ld: d) }
        return out
    }
}

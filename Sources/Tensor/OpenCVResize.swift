/// OpenCV `cv2.resize` kernels used by the data pipeline (spec §0), on row-major `[H, W]` or
/// interleaved `[H, W, C]` data.
public enum OpenCVResize {
    /// `INTER_LINEAR` on float32: half-pixel centres, coordinates computed in double and rounded
    /// to float as OpenCV's `resizeGeneric_` does, edge taps clamped (`sx<0 → 0, t=0`;
    /// `sx ≥ src-1 → src-1, t=0`). Separable: horizontal pass per source row, then vertical.
    public static func linear(_ input: Tensor, height: Int, width: Int) -> Tensor {
        precondition(input.rank == 2 || input.rank == 3, "cv2 resize needs [H,W] or [H,W,C], got \(input.shape)")
        let (h, w) = (input.shape[0], input.shape[1])
        let channels = input.rank == 3 ? input.shape[2] : 1
        let xs = taps(source: w, destination: width)
        let ys = taps(source: h, destination: height)
        // Horizontal pass for every source row.
        var rows = [Float](repeating: 0, count: h * width * channels)
        input.withUnsafeBufferPointer { src in
            for y in 0..<h {
                let line = src.baseAddress! + y * w * channels
                for x in 0..<width {
                    let (sx, a1) = xs[x]
                    let a0 = 1 - a1
                    for c in 0..<channels {
                        let s0 = line[sx * channels + c]
                        // OpenCV reads the second tap only where it exists (dx < xmax).
                        let value = sx + 1 < w ? s0 * a0 + line[(sx + 1) * channels + c] * a1 : s0 * a0
                        rows[(y * width + x) * channels + c] = value
                    }
                }
            }
        }
        let shape = input.rank == 3 ? [height, width, channels] : [height, width]
        return Tensor(shape: shape) { out in
            rows.withUnsafeBufferPointer { r in
                let lineLength = width * channels
                for y in 0..<height {
                    let (sy, b1) = ys[y]
                    let b0 = 1 - b1
                    let r0 = r.baseAddress! + sy * lineLength
                    let r1 = r.baseAddress! + min(sy + 1, h - 1) * lineLength
                    let dst = out.baseAddress! + y * lineLength
                    for i in 0..<lineLength { dst[i] = r0[i] * b0 + r1[i] * b1 }
                }
            }
        }
    }

    /// `(source index, weight of the next pixel)` per destination index.
    static func taps(source: Int, destination: Int) -> [(Int, Float)] {
        let scale = 1.0 / (Double(destination) / Double(source))
        return (0..<destination).map { d in
            var f = Float((Double(d) + 0.5) * scale - 0.5)
            var s = Int(f.rounded(.down))
            f -= Float(s)
            if s < 0 { s = 0; f = 0 }
            if s >= source - 1 { s = source - 1; f = 0 }
            return (s, f)
        }
    }

    /// `INTER_NEAREST` (not `_EXACT`) on 8-bit labels `[H, W]`: `src = min(floor(dst·src/dst), src-1)`
    /// with OpenCV's double-precision reciprocal scale.
    public static func nearest(_ input: [UInt8], height: Int, width: Int, toHeight: Int, toWidth: Int) -> [UInt8] {
        precondition(input.count == height * width, "cv2 nearest: \(input.count) values for \(height)x\(width)")
        let fx = 1.0 / (Double(toWidth) / Double(width)), fy = 1.0 / (Double(toHeight) / Double(height))
        let xs = (0..<toWidth).map { min(Int((Double($0) * fx).rounded(.down)), width - 1) }
        var out = [UInt8](repeating: 0, count: toHeight * toWidth)
        for y in 0..<toHeight {
            let sy = min(Int((Double(y) * fy).rounded(.down)), height - 1)
            for x in 0..<toWidth { out[y * toWidth + x] = input[sy * width + xs[x]] }
        }
        return out
    }
}

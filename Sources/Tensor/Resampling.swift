import Foundation

/// PyTorch `F.interpolate` kernels on the last two dimensions of a tensor (NCHW or any
/// `[..., H, W]`), reproducing the CPU kernels' index/weight arithmetic and summation order so
/// results match to the last bit or nearly (spec §0).
public enum Resampling {
    /// Per output position along one axis: `taps` source indices and weights.
    struct AxisTaps {
        var taps: Int
        var indices: [Int]
        var weights: [Float]
    }

    // MARK: Public kernels

    /// `mode='bilinear'`, antialias=False.
    public static func bilinear(_ input: Tensor, height: Int, width: Int, alignCorners: Bool) -> Tensor {
        let (h, w) = spatial(input)
        return separable2d(input, height: height, width: width,
                           rows: linearTaps(input: h, output: height, alignCorners: alignCorners),
                           cols: linearTaps(input: w, output: width, alignCorners: alignCorners))
    }

    /// `mode='bicubic'` (A = -0.75, align_corners=False, antialias=False) to a given size.
    public static func bicubic(_ input: Tensor, height: Int, width: Int) -> Tensor {
        let (h, w) = spatial(input)
        return separable2d(input, height: height, width: width,
                           rows: cubicTaps(input: h, output: height, ratio: Float(h) / Float(height)),
                           cols: cubicTaps(input: w, output: width, ratio: Float(w) / Float(width)))
    }

    /// `mode='bicubic'` with `scale_factor`: the output size is `floor(in·scale)` and, as in
    /// PyTorch, the coordinate ratio is `float(1/scale)` — not in/out. DINOv2's pos-embed
    /// resize (scale 40.1/37) depends on this.
    public static func bicubic(_ input: Tensor, scaleFactor: (Double, Double)) -> Tensor {
        let (h, w) = spatial(input)
        let height = Int((Double(h) * scaleFactor.0).rounded(.down))
        let width = Int((Double(w) * scaleFactor.1).rounded(.down))
        return separable2d(input, height: height, width: width,
                           rows: cubicTaps(input: h, output: height, ratio: Float(1.0 / scaleFactor.0)),
                           cols: cubicTaps(input: w, output: width, ratio: Float(1.0 / scaleFactor.1)))
    }

    /// Legacy `mode='nearest'` to a given size: `src = min(floor(dst·(in/out)), in-1)` in float32.
    public static func nearest(_ input: Tensor, height: Int, width: Int) -> Tensor {
        let (h, w) = spatial(input)
        return separable2d(input, height: height, width: width,
                           rows: nearestTaps(input: h, output: height, scale: Float(h) / Float(height)),
                           cols: nearestTaps(input: w, output: width, scale: Float(w) / Float(width)))
    }

    /// Legacy `mode='nearest'` with an integer-valued `scale_factor` (the FPN's ×2).
    public static func nearest(_ input: Tensor, scaleFactor: Double) -> Tensor {
        let (h, w) = spatial(input)
        let height = Int((Double(h) * scaleFactor).rounded(.down)), width = Int((Double(w) * scaleFactor).rounded(.down))
        return separable2d(input, height: height, width: width,
                           rows: nearestTaps(input: h, output: height, scale: Float(1.0 / scaleFactor)),
                           cols: nearestTaps(input: w, output: width, scale: Float(1.0 / scaleFactor)))
    }

    /// `mode='bilinear', align_corners=False, antialias=True` (PIL-style triangle filter widened
    /// by the downscale factor), computed as PyTorch does: horizontal pass, then vertical.
    public static func bilinearAntialiased(_ input: Tensor, height: Int, width: Int) -> Tensor {
        let (h, w) = spatial(input)
        let planes = input.count / max(h * w, 1)
        let cols = antialiasTaps(input: w, output: width)
        let rows = antialiasTaps(input: h, output: height)
        let leading = Array(input.shape.dropLast(2))
        var horizontal = [Float](repeating: 0, count: planes * h * width)
        input.withUnsafeBufferPointer { src in
            horizontal.withUnsafeMutableBufferPointer { dst in
                if width == w {
                    dst.baseAddress!.update(from: src.baseAddress!, count: planes * h * w)
                    return
                }
                for line in 0..<(planes * h) {
                    accumulate(src.baseAddress! + line * w, stride: 1, taps: cols, outputs: width,
                               into: dst.baseAddress! + line * width, outStride: 1)
                }
            }
        }
        if height == h { return Tensor(shape: leading + [height, width], storage: horizontal) }
        return Tensor(shape: leading + [height, width]) { out in
            horizontal.withUnsafeBufferPointer { src in
                for p in 0..<planes {
                    for x in 0..<width {
                        accumulate(src.baseAddress! + p * h * width + x, stride: width, taps: rows, outputs: height,
                                   into: out.baseAddress! + p * height * width + x, outStride: width)
                    }
                }
            }
        }
    }

    // MARK: Index and weight tables

    /// PyTorch `compute_source_index_and_lambda` (linear).
    static func linearTaps(input: Int, output: Int, alignCorners: Bool) -> AxisTaps {
        var taps = AxisTaps(taps: 2, indices: [], weights: [])
        let ratio: Float = alignCorners
            ? (output > 1 ? Float(input - 1) / Float(output - 1) : 0)
            : Float(input) / Float(output)
        for i in 0..<output {
            if input == output {
                taps.indices += [i, i]; taps.weights += [1, 0]; continue
            }
            var src: Float = alignCorners ? ratio * Float(i) : ratio * (Float(i) + 0.5) - 0.5
            if !alignCorners && src < 0 { src = 0 }
            let i0 = min(Int(src.rounded(.down)), input - 1)
            let lambda1 = min(max(src - Float(i0), 0), 1)
            let i1 = i0 + (i0 < input - 1 ? 1 : 0)
            taps.indices += [i0, i1]
            taps.weights += [1 - lambda1, lambda1]
        }
        return taps
    }

    /// PyTorch `compute_indices_weights_cubic` (align_corners=False).
    static func cubicTaps(input: Int, output: Int, ratio: Float) -> AxisTaps {
        var taps = AxisTaps(taps: 4, indices: [], weights: [])
        let a: Float = -0.75
        func conv1(_ x: Float) -> Float { ((a + 2) * x - (a + 3)) * x * x + 1 }
        func conv2(_ x: Float) -> Float { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
        for i in 0..<output {
            let src = ratio * (Float(i) + 0.5) - 0.5
            let i0 = min(Int(src.rounded(.down)), input - 1)
            let t = min(max(src - Float(i0), 0), 1)
            for j in 0..<4 { taps.indices.append(max(min(i0 - 1 + j, input - 1), 0)) }
            taps.weights += [conv2(t + 1), conv1(t), conv1(1 - t), conv2((1 - t) + 1)]
        }
        return taps
    }

    /// PyTorch `nearest_idx`.
    static func nearestTaps(input: Int, output: Int, scale: Float) -> AxisTaps {
        var taps = AxisTaps(taps: 1, indices: [], weights: [])
        for i in 0..<output {
            let index: Int
            if output == input { index = i }
            else if output == 2 * input { index = i >> 1 }
            else { index = min(Int((Float(i) * scale).rounded(.down)), input - 1) }
            taps.indices.append(index)
            taps.weights.append(1)
        }
        return taps
    }

    /// PyTorch `_compute_indices_min_size_weights_aa` for the linear (triangle) filter; entries
    /// beyond an output's support have weight 0 and index -1 (skipped, as PyTorch's loop stops
    /// at `xsize`).
    static func antialiasTaps(input: Int, output: Int) -> AxisTaps {
        let scale = Float(input) / Float(output)
        let support: Float = scale >= 1 ? 1 * scale : 1
        let maxTaps = Int(support.rounded(.up)) * 2 + 1
        var taps = AxisTaps(taps: maxTaps, indices: [], weights: [])
        let invscale: Float = scale >= 1 ? Float(1.0 / Double(scale)) : 1
        for i in 0..<output {
            let center = Float(Double(scale) * (Double(i) + 0.5))
            let xmin = max(Int(Double(center - support) + 0.5), 0)
            let xsize = min(Int(Double(center + support) + 0.5), input) - xmin
            var weights = [Float](repeating: 0, count: maxTaps)
            var total: Float = 0
            for j in 0..<xsize {
                let arg = Float((Double(Float(j + xmin) - center) + 0.5) * Double(invscale))
                let x = abs(arg)
                let wj: Float = x < 1 ? 1 - x : 0
                weights[j] = wj
                total += wj
            }
            if total != 0 { for j in 0..<xsize { weights[j] /= total } }
            for j in 0..<maxTaps { taps.indices.append(j < xsize ? xmin + j : -1) }
            taps.weights += weights
        }
        return taps
    }

    // MARK: Application

    static func spatial(_ t: Tensor) -> (Int, Int) {
        precondition(t.rank >= 2, "resampling needs [..., H, W], got \(t.shape)")
        return (t.shape[t.rank - 2], t.shape[t.rank - 1])
    }

    /// `out[y,x] = Σ_j wy_j · (Σ_i wx_i · in[iy_j, ix_i])`, each sum started from its first
    /// product and accumulated in tap order, as PyTorch's `Interpolate<2>` does.
    static func separable2d(_ input: Tensor, height: Int, width: Int, rows: AxisTaps, cols: AxisTaps) -> Tensor {
        let (h, w) = spatial(input)
        let planes = input.count / max(h * w, 1)
        let leading = Array(input.shape.dropLast(2))
        return Tensor(shape: leading + [height, width]) { out in
            input.withUnsafeBufferPointer { src in
                rows.indices.withUnsafeBufferPointer { ry in rows.weights.withUnsafeBufferPointer { wy in
                cols.indices.withUnsafeBufferPointer { cx in cols.weights.withUnsafeBufferPointer { wx in
                    nonisolated(unsafe) let (s, d) = (src.baseAddress!, out.baseAddress!)
                    nonisolated(unsafe) let (ry, wy, cx, wx) = (ry, wy, cx, wx)
                    let ty = rows.taps, tx = cols.taps
                    ComputeThreads.parallelFor(planes * height) { line in
                        let p = line / height, y = line % height
                        let plane = s + p * h * w
                        let dst = d + line * width
                        for x in 0..<width {
                            var value: Float = 0
                            for j in 0..<ty {
                                let row = plane + ry[y * ty + j] * w
                                var inner = row[cx[x * tx]] * wx[x * tx]
                                for i in 1..<tx { inner += row[cx[x * tx + i]] * wx[x * tx + i] }
                                value = j == 0 ? inner * wy[y * ty] : value + inner * wy[y * ty + j]
                            }
                            dst[x] = value
                        }
                    }
                }}}}
            }
        }
    }

    /// One antialiased pass along a strided line.
    static func accumulate(_ src: UnsafePointer<Float>, stride: Int, taps: AxisTaps, outputs: Int,
                           into dst: UnsafeMutablePointer<Float>, outStride: Int) {
        let t = taps.taps
        for o in 0..<outputs {
            var value = src[taps.indices[o * t] * stride] * taps.weights[o * t]
            var j = 1
            while j < t, taps.indices[o * t + j] >= 0 {
                value += src[taps.indices[o * t + j] * stride] * taps.weights[o * t + j]
                j += 1
            }
            dst[o * outStride] = value
        }
    }
}

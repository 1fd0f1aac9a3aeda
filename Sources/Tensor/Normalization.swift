/// Layer normalisation kernels.
public enum Normalization {
    /// LayerNorm over the last dimension of a `[rows, dim]` buffer (PyTorch `nn.LayerNorm(dim)`):
    /// biased variance, `(x-mean)/sqrt(var+eps)·weight + bias`. Two passes (mean, then centred
    /// squares) avoid the cancellation of `E[x²]-E[x]²`. `output` may equal `input`.
    public static func layerNorm(_ input: UnsafePointer<Float>, rows: Int, dim: Int,
                                 weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?, eps: Float,
                                 into output: UnsafeMutablePointer<Float>) {
        nonisolated(unsafe) let (src, dst) = (input, output)
        nonisolated(unsafe) let (w, b) = (weight, bias)
        let rowsPerTask = max(1, 4096 / max(dim, 1))
        ComputeThreads.parallelFor((rows + rowsPerTask - 1) / rowsPerTask) { task in
            for r in (task * rowsPerTask)..<min(rows, (task + 1) * rowsPerTask) {
                normalizeRow(src + r * dim, dim: dim, weight: w, bias: b, eps: eps, into: dst + r * dim)
            }
        }
    }

    @inline(__always)
    static func normalizeRow(_ x: UnsafePointer<Float>, dim: Int, weight: UnsafePointer<Float>?,
                             bias: UnsafePointer<Float>?, eps: Float, into y: UnsafeMutablePointer<Float>) {
        let vectorEnd = dim & ~7
        var acc = SIMD8<Float>(repeating: 0)
        var i = 0
        while i < vectorEnd { acc += x.loadVector(at: i); i += 8 }
        var sum = acc.sum()
        while i < dim { sum += x[i]; i += 1 }
        let mean = sum / Float(dim)
        var accSq = SIMD8<Float>(repeating: 0)
        i = 0
        while i < vectorEnd { let d = x.loadVector(at: i) - mean; accSq.addProduct(d, d); i += 8 }
        var sq = accSq.sum()
        while i < dim { let d = x[i] - mean; sq += d * d; i += 1 }
        let rstd = 1 / (sq / Float(dim) + eps).squareRoot()
        for j in 0..<dim {
            var v = (x[j] - mean) * rstd
            if let weight { v *= weight[j] }
            if let bias { v += bias[j] }
            y[j] = v
        }
    }

    /// SAM 2's `LayerNorm2d`: normalises each pixel over the channels of an NCHW map,
    /// `u = mean_c x; s = mean_c (x-u)²; (x-u)/sqrt(s+eps)·weight[c] + bias[c]`.
    public static func layerNorm2d(_ input: UnsafePointer<Float>, batch: Int, channels: Int, pixels: Int,
                                   weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?, eps: Float,
                                   into output: UnsafeMutablePointer<Float>) {
        nonisolated(unsafe) let (src, dst) = (input, output)
        nonisolated(unsafe) let (w, b) = (weight, bias)
        // Tasks are (image, pixel range): every pixel's statistics are summed over channels in
        // channel order whichever task holds it, so the split never changes a bit.
        let chunk = 256
        let chunksPerImage = (pixels + chunk - 1) / chunk
        ComputeThreads.parallelFor(batch * chunksPerImage) { task in
            let n = task / chunksPerImage
            let p0 = (task % chunksPerImage) * chunk, p1 = Swift.min(pixels, p0 + chunk), width = p1 - p0
            let x = src + n * channels * pixels + p0, y = dst + n * channels * pixels + p0
            var mean = [Float](repeating: 0, count: width)
            var variance = [Float](repeating: 0, count: width)
            for c in 0..<channels { for p in 0..<width { mean[p] += x[c * pixels + p] } }
            for p in 0..<width { mean[p] /= Float(channels) }
            for c in 0..<channels { for p in 0..<width { let d = x[c * pixels + p] - mean[p]; variance[p] += d * d } }
            for p in 0..<width { variance[p] = 1 / (variance[p] / Float(channels) + eps).squareRoot() }
            for c in 0..<channels {
                let wc = w?[c] ?? 1, bc = b?[c] ?? 0
                for p in 0..<width { y[c * pixels + p] = (x[c * pixels + p] - mean[p]) * variance[p] * wc + bc }
            }
        }
    }
}

extension Tensor {
    /// `nn.LayerNorm` over the last dimension.
    public func layerNorm(weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor {
        let dim = shape.last ?? 1
        precondition(weight == nil || weight!.count == dim, "layerNorm: weight \(weight!.shape) for last dim \(dim)")
        precondition(bias == nil || bias!.count == dim, "layerNorm: bias \(bias!.shape) for last dim \(dim)")
        return Tensor(shape: shape) { out in
            withUnsafeBufferPointer { x in
                withOptionalPointers(weight, bias) { w, b in
                    Normalization.layerNorm(x.baseAddress!, rows: count / max(dim, 1), dim: dim,
                                            weight: w, bias: b, eps: eps, into: out.baseAddress!)
                }
            }
        }
    }

    /// SAM 2 `LayerNorm2d` over the channels of an NCHW tensor.
    public func layerNorm2d(weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor {
        precondition(rank == 4, "layerNorm2d needs NCHW, got \(shape)")
        let c = shape[1]
        precondition(weight == nil || weight!.count == c, "layerNorm2d: weight \(weight!.shape) for \(c) channels")
        precondition(bias == nil || bias!.count == c, "layerNorm2d: bias \(bias!.shape) for \(c) channels")
        return Tensor(shape: shape) { out in
            withUnsafeBufferPointer { x in
                withOptionalPointers(weight, bias) { w, b in
                    Normalization.layerNorm2d(x.baseAddress!, batch: shape[0], channels: c, pixels: shape[2] * shape[3],
                                              weight: w, bias: b, eps: eps, into: out.baseAddress!)
                }
            }
        }
    }
}

/// Calls `body` with base pointers of two optional tensors (nil stays nil).
func withOptionalPointers<R>(_ a: Tensor?, _ b: Tensor?,
                             _ body: (UnsafePointer<Float>?, UnsafePointer<Float>?) -> R) -> R {
    func withOne<T>(_ t: Tensor?, _ f: (UnsafePointer<Float>?) -> T) -> T {
        guard let t else { return f(nil) }
        return t.withUnsafeBufferPointer { f($0.baseAddress) }
    }
    return withOne(a) { pa in withOne(b) { pb in body(pa, pb) } }
}

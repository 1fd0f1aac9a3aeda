import Tensor

/// Small memory-bound kernels the Hiera trunk and FPN neck need beside the GEMMs: 2×2 max
/// pooling of channels-last maps, residual adds, 1×1 convolutions that land directly in the
/// layout the next step wants, and a blocked transpose. Kept here (not in `Tensor`) because only
/// the SAM 2 image encoder uses them.
enum HieraKernels {
    /// `MaxPool2d(2, 2)` of a channels-last map whose token `t` has its `channels` values at
    /// `src[t·ld + offset ..< +channels]` (so the q columns of a packed qkv map pool in place).
    /// Output `[(height/2)·(width/2), channels]`, contiguous.
    static func maxPool2x2(_ src: UnsafePointer<Float>, height: Int, width: Int, channels: Int, ld: Int,
                           into dst: UnsafeMutablePointer<Float>) {
        let (ho, wo) = (height / 2, width / 2)
        nonisolated(unsafe) let (s, d) = (src, dst)
        ComputeThreads.parallelFor(ho) { oy in
            for ox in 0..<wo {
                let a = s + ((2 * oy) * width + 2 * ox) * ld
                let b = a + ld, c = a + width * ld, e = c + ld
                let o = d + (oy * wo + ox) * channels
                // PyTorch's CPU max pool scans the window row by row and keeps the first maximum;
                // with no NaNs the order does not change the value.
                for j in 0..<channels { o[j] = Swift.max(Swift.max(a[j], b[j]), Swift.max(c[j], e[j])) }
            }
        }
    }

    /// `x += y` elementwise.
    static func add(_ y: UnsafePointer<Float>, into x: UnsafeMutablePointer<Float>, count: Int) {
        let chunk = 1 << 15
        nonisolated(unsafe) let (src, dst) = (y, x)
        ComputeThreads.parallelFor((count + chunk - 1) / chunk) { c in
            let start = c * chunk, end = Swift.min(count, start + chunk)
            for i in start..<end { dst[i] += src[i] }
        }
    }

    /// `out [columns, rows] = srcᵀ` for `src [rows, columns]`.
    static func transpose(_ src: UnsafePointer<Float>, rows: Int, columns: Int, into out: UnsafeMutablePointer<Float>) {
        Transpose.matrix(src, rows: rows, columns: columns, into: out)
    }

    /// A 1×1 convolution (`weight [O, C, 1, 1]`, `bias [O]`) of a channels-last map
    /// `[pixels, C]`, producing NCHW `[O, pixels]` directly: `out = W · xᵀ + b`.
    static func pointwiseConvFromChannelsLast(_ x: UnsafePointer<Float>, pixels: Int, weight: Tensor, bias: Tensor,
                                              into out: UnsafeMutablePointer<Float>) {
        let (o, c) = (weight.shape[0], weight.shape[1])
        fillRows(out, rows: o, columns: pixels, bias: bias)
        weight.withUnsafeBufferPointer { w in
            BLAS.sgemm(transposeB: true, m: o, n: pixels, k: c, a: w.baseAddress!, lda: c,
                       b: x, ldb: c, beta: 1, c: out, ldc: pixels)
        }
    }

    /// A 1×1 convolution of an NCHW map `[C, pixels]` to `[O, pixels]`: `out = W · x + b`.
    static func pointwiseConv(_ x: UnsafePointer<Float>, pixels: Int, weight: Tensor, bias: Tensor,
                              into out: UnsafeMutablePointer<Float>) {
        let (o, c) = (weight.shape[0], weight.shape[1])
        fillRows(out, rows: o, columns: pixels, bias: bias)
        weight.withUnsafeBufferPointer { w in
            BLAS.sgemm(m: o, n: pixels, k: c, a: w.baseAddress!, lda: c, b: x, ldb: pixels, beta: 1, c: out, ldc: pixels)
        }
    }

    /// Row `r` of `[rows, columns]` set to `bias[r]` (the GEMM then accumulates with beta = 1).
    private static func fillRows(_ out: UnsafeMutablePointer<Float>, rows: Int, columns: Int, bias: Tensor) {
        bias.withUnsafeBufferPointer { b in
            for r in 0..<rows { (out + r * columns).update(repeating: b[r], count: columns) }
        }
    }
}

extension HieraKernels {
    /// One row of `nn.LayerNorm` (biased variance, two passes), the arithmetic of
    /// `Normalization.layerNorm` for callers that are already on a worker thread.
    @inline(__always)
    static func layerNormRow(_ x: UnsafePointer<Float>, dim: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                             eps: Float, into y: UnsafeMutablePointer<Float>) {
        let raw = UnsafeRawPointer(x)
        let vectorEnd = dim & ~7
        var acc = SIMD8<Float>(repeating: 0)
        var i = 0
        while i < vectorEnd { acc += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self); i += 8 }
        var sum = acc.sum()
        while i < dim { sum += x[i]; i += 1 }
        let mean = sum / Float(dim)
        var accSq = SIMD8<Float>(repeating: 0)
        i = 0
        while i < vectorEnd {
            let d = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) - mean
            accSq.addProduct(d, d)
            i += 8
        }
        var sq = accSq.sum()
        while i < dim { let d = x[i] - mean; sq += d * d; i += 1 }
        let rstd = 1 / (sq / Float(dim) + eps).squareRoot()
        for j in 0..<dim { y[j] = (x[j] - mean) * rstd * weight[j] + bias[j] }
    }
}

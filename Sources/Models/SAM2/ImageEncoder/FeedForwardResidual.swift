import Tensor

extension MultiScaleBlock {
    /// The block's second half, `x = x + mlp(norm2(x))`, in place on `x [rows, dim]`.
    ///
    /// On the large high-resolution maps (stage 1: 16384 tokens × 384 hidden = 25 MB of hidden
    /// activations) the whole branch runs per chunk of rows on one worker — norm2, fc1 (bias
    /// preloaded), GELU, fc2, residual add — so the hidden chunk never leaves L2 and every weight
    /// matrix is small enough that re-packing it per chunk is cheap. On the small deep maps the
    /// weights are large (fc1 of stage 3 is 2.4 MB) and the hidden activations fit in cache, so
    /// whole-map multi-threaded GEMMs win there.
    public func feedForwardResidual(_ x: inout Tensor) {
        let rows = x.shape[0], dim = x.shape[1]
        let fc1 = mlp.layers[0], fc2 = mlp.layers[1]
        let hiddenWidth = fc1.outFeatures
        guard rows * hiddenWidth >= Self.chunkedHiddenThreshold && fc1.weight.count <= Self.chunkedWeightLimit else {
            let branch = mlp(norm2(x))
            x.withUnsafeMutableBufferPointer { o in
                branch.withUnsafeBufferPointer { b in HieraKernels.add(b.baseAddress!, into: o.baseAddress!, count: o.count) }
            }
            return
        }
        let chunk = max(16, Self.hiddenChunkFloats / hiddenWidth / 16 * 16)
        let chunks = (rows + chunk - 1) / chunk
        x.withUnsafeMutableBufferPointer { xb in
            nonisolated(unsafe) let stream = xb.baseAddress!
            norm2.weight.withUnsafeBufferPointer { nw in norm2.bias.withUnsafeBufferPointer { nb in
            fc1.weight.withUnsafeBufferPointer { w1 in fc1.bias!.withUnsafeBufferPointer { b1 in
            fc2.weight.withUnsafeBufferPointer { w2 in fc2.bias!.withUnsafeBufferPointer { b2 in
                nonisolated(unsafe) let (nw, nb, w1, b1, w2, b2) = (nw.baseAddress!, nb.baseAddress!, w1.baseAddress!,
                                                                    b1.baseAddress!, w2.baseAddress!, b2.baseAddress!)
                let eps = norm2.eps
                ComputeThreads.parallelRanges(chunks) { range in
                    let normed = UnsafeMutablePointer<Float>.allocate(capacity: chunk * dim)
                    let hidden = UnsafeMutablePointer<Float>.allocate(capacity: chunk * hiddenWidth)
                    let branch = UnsafeMutablePointer<Float>.allocate(capacity: chunk * dim)
                    defer { normed.deallocate(); hidden.deallocate(); branch.deallocate() }
                    for c in range {
                        let r0 = c * chunk, n = min(chunk, rows - r0)
                        let xs = stream + r0 * dim
                        for r in 0..<n {
                            HieraKernels.layerNormRow(xs + r * dim, dim: dim, weight: nw, bias: nb, eps: eps, into: normed + r * dim)
                            (hidden + r * hiddenWidth).update(from: b1, count: hiddenWidth)
                            (branch + r * dim).update(from: b2, count: dim)
                        }
                        BLAS.sgemm(transposeB: true, m: n, n: hiddenWidth, k: dim, a: normed, lda: dim, b: w1, ldb: dim,
                                   beta: 1, c: hidden, ldc: hiddenWidth, threads: 1)
                        Activations.geluInPlace(hidden, count: n * hiddenWidth, parallel: false)
                        BLAS.sgemm(transposeB: true, m: n, n: dim, k: hiddenWidth, a: hidden, lda: hiddenWidth, b: w2,
                                   ldb: hiddenWidth, beta: 1, c: branch, ldc: dim, threads: 1)
                        // x + (h·W2ᵀ + b2): the same association as `x + mlp(...)`.
                        for i in 0..<(n * dim) { xs[i] += branch[i] }
                    }
                }
            }}}}}}
        }
    }

    /// Maps with at least this many hidden activations run chunked (stage 1 and 2 of S at 512).
    static let chunkedHiddenThreshold = 1 << 22
    /// …and only when fc1 is small enough to re-pack per chunk (≤ 192·768 floats).
    static let chunkedWeightLimit = 192 * 768
    /// Hidden floats per chunk: 512 KB, half an L2.
    static let hiddenChunkFloats = 1 << 17
}

import Tensor

/// Multi-head attention over a whole map (Hiera's global blocks: 1024 tokens × 4 heads for S at
/// 512). Same blocking as `AttentionKernel.scaledDotProduct` — (head, block of query rows) tasks,
/// each computing a block of scores, softmax in place while it is in cache, then P·V into the
/// output's head columns — but with `HieraVectorMath`'s softmax, whose exp is all vector
/// instructions (the scores' 4 M exponentials dominated these blocks otherwise).
enum GlobalAttention {
    static let queryBlock = 64

    static func run(q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, v: UnsafePointer<Float>, ldkv: Int,
                    queries: Int, keys: Int, heads: Int, headDim: Int, output: UnsafeMutablePointer<Float>, ldo: Int) {
        let blocks = (queries + queryBlock - 1) / queryBlock
        let scale = 1 / Float(headDim).squareRoot()
        nonisolated(unsafe) let (pq, pk, pv, po) = (q, k, v, output)
        ComputeThreads.parallelRanges(heads * blocks) { tasks in
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: queryBlock * keys)
            defer { scores.deallocate() }
            for task in tasks {
                let head = task / blocks
                let row0 = (task % blocks) * queryBlock, rows = Swift.min(queryBlock, queries - row0)
                BLAS.sgemm(transposeB: true, m: rows, n: keys, k: headDim,
                           a: pq + row0 * ldq + head * headDim, lda: ldq, b: pk + head * headDim, ldb: ldkv,
                           c: scores, ldc: keys, threads: 1)
                for r in 0..<rows { HieraVectorMath.softmaxRow(scores + r * keys, count: keys, scale: scale) }
                BLAS.sgemm(m: rows, n: headDim, k: keys, a: scores, lda: keys, b: pv + head * headDim, ldb: ldkv,
                           c: po + row0 * ldo + head * headDim, ldc: ldo, threads: 1)
            }
        }
    }
}

import Tensor

/// `MultiScaleAttention` (`hieradet.py`, spec §2.7): fused qkv projection, optional 2×2 max pooling
/// of q, softmax attention per head (scale 1/√head_dim), output projection. Windowing belongs to
/// the block in the original; here the block hands its window to `callAsFunction` so partition and
/// unpartition fuse with the attention (see `WindowAttention`).
public struct MultiScaleAttention: Sendable {
    public let qkv: Linear
    public let proj: Linear
    public let numHeads: Int
    public let poolsQuery: Bool
    public var dimOut: Int { proj.outFeatures }

    init(_ w: ModuleWeights, dim: Int, dimOut: Int, numHeads: Int, poolsQuery: Bool) throws {
        qkv = try Linear(w.child("qkv"), in: dim, out: 3 * dimOut)
        proj = try Linear(w.child("proj"), in: dimOut, out: dimOut)
        guard dimOut % numHeads == 0 else {
            throw ModelError(w.prefix + "proj.weight", "width \(dimOut) does not split into \(numHeads) heads")
        }
        self.numHeads = numHeads
        self.poolsQuery = poolsQuery
    }

    /// `x` (already `norm1`-ed, unpartitioned) → attention output after `proj`, unpartitioned and
    /// cropped: `[H·W, dim_out]`, or `[(H/2)·(W/2), dim_out]` when q is pooled. `window` 0 = global.
    public func callAsFunction(_ x: TokenMap, window: Int) -> TokenMap {
        let c = dimOut, n = x.tokens
        let (hq, wq) = poolsQuery ? (x.height / 2, x.width / 2) : (x.height, x.width)
        let packed = x.data.linear(weight: qkv.weight, bias: qkv.bias)   // [n, 3C]
        var pooledQuery: Tensor?
        if poolsQuery {
            pooledQuery = Tensor(shape: [hq * wq, c]) { out in
                packed.withUnsafeBufferPointer { p in
                    HieraKernels.maxPool2x2(p.baseAddress!, height: x.height, width: x.width, channels: c, ld: 3 * c,
                                            into: out.baseAddress!)
                }
            }
        }
        let attended = Tensor(shape: [hq * wq, c]) { out in
            packed.withUnsafeBufferPointer { p in
                withOptionalPointer(pooledQuery) { pooled in
                    let base = p.baseAddress!
                    if window > 0 {
                        let geometry = WindowAttention.Geometry(
                            height: x.height, width: x.width, window: window,
                            queryHeight: hq, queryWidth: wq, queryWindow: poolsQuery ? window / 2 : window)
                        qkv.bias!.withUnsafeBufferPointer { bias in
                            WindowAttention.run(qkv: base, qkvBias: bias.baseAddress!, query: pooled, geometry: geometry,
                                                channels: c, heads: numHeads, output: out.baseAddress!)
                        }
                    } else {
                        // Global attention: the whole map is one window, no padding.
                        let (q, ldq) = pooled.map { ($0, c) } ?? (base, 3 * c)
                        let headDim = c / numHeads
                        AttentionKernel.scaledDotProduct(
                            q: q, ldq: ldq, k: base + c, ldk: 3 * c, v: base + 2 * c, ldv: 3 * c,
                            queries: hq * wq, keys: n, heads: numHeads, headDim: headDim,
                            scale: 1 / Float(headDim).squareRoot(), output: out.baseAddress!, ldo: c)
                    }
                }
            }
        }
        return TokenMap(data: attended.linear(weight: proj.weight, bias: proj.bias), height: hq, width: wq)
    }
}

/// Calls `body` with the base pointer of an optional tensor (nil stays nil).
func withOptionalPointer<R>(_ t: Tensor?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let t else { return body(nil) }
    return t.withUnsafeBufferPointer { body($0.baseAddress) }
}

import Tensor

/// `MultiScaleBlock` (`hieradet.py`, spec §2.5), channels-last:
/// ```
/// xn = norm1(x)
/// shortcut = dim != dim_out ? MaxPool2x2(proj(xn)) : x     # proj of the NORMED x (pitfall 3)
/// x = shortcut + unpartition(attn(partition(xn)))           # zero padding after norm1, no mask
/// x = x + mlp(norm2(x))                                     # Linear → exact GELU → Linear
/// ```
public struct MultiScaleBlock: Sendable {
    public let spec: Hiera.BlockSpec
    public let norm1: LayerNorm
    public let attn: MultiScaleAttention
    public let proj: Linear?
    public let norm2: LayerNorm
    public let mlp: MLP

    /// SAM 2's `MLP(dim, 4·dim, dim, num_layers=2, activation=GELU)`: `layers.0`, `layers.1`.
    public struct MLP: Sendable {
        public let layers: [Linear]

        init(_ w: ModuleWeights, dim: Int, hidden: Int) throws {
            layers = [try Linear(w.child("layers.0"), in: dim, out: hidden),
                      try Linear(w.child("layers.1"), in: hidden, out: dim)]
        }

        /// `x [rows, dim]` → `[rows, dim]`. The GELU runs in place on the hidden activations the
        /// first GEMM just wrote (its bias was preloaded into the output, so bias + GELU cost one
        /// pass over memory).
        public func callAsFunction(_ x: Tensor) -> Tensor {
            var hidden = x.linear(weight: layers[0].weight, bias: layers[0].bias)
            hidden.withUnsafeMutableBufferPointer { Activations.geluInPlace($0.baseAddress!, count: $0.count) }
            return hidden.linear(weight: layers[1].weight, bias: layers[1].bias)
        }
    }

    init(_ w: ModuleWeights, spec: Hiera.BlockSpec) throws {
        self.spec = spec
        norm1 = try LayerNorm(w.child("norm1"), dim: spec.dim, eps: 1e-6)
        attn = try MultiScaleAttention(w.child("attn"), dim: spec.dim, dimOut: spec.dimOut, numHeads: spec.heads,
                                       poolsQuery: spec.poolsQuery)
        proj = spec.dim != spec.dimOut ? try Linear(w.child("proj"), in: spec.dim, out: spec.dimOut) : nil
        norm2 = try LayerNorm(w.child("norm2"), dim: spec.dimOut, eps: 1e-6)
        mlp = try MLP(w.child("mlp"), dim: spec.dimOut, hidden: 4 * spec.dimOut)
    }

    public func callAsFunction(_ x: TokenMap) -> TokenMap {
        let normed = TokenMap(data: norm1(x.data), height: x.height, width: x.width)
        var shortcut = x
        if let proj {
            let projected = normed.data.linear(weight: proj.weight, bias: proj.bias)
            if spec.poolsQuery {
                let (h, w) = (x.height / 2, x.width / 2)
                let pooled = Tensor(shape: [h * w, spec.dimOut]) { out in
                    projected.withUnsafeBufferPointer { p in
                        HieraKernels.maxPool2x2(p.baseAddress!, height: x.height, width: x.width, channels: spec.dimOut,
                                                ld: spec.dimOut, into: out.baseAddress!)
                    }
                }
                shortcut = TokenMap(data: pooled, height: h, width: w)
            } else {
                shortcut = TokenMap(data: projected, height: x.height, width: x.width)
            }
        }
        let attended = attn(normed, window: spec.window)
        precondition(attended.height == shortcut.height && attended.width == shortcut.width,
                     "attention output \(attended.height)x\(attended.width) vs shortcut \(shortcut.height)x\(shortcut.width)")
        var out = shortcut
        out.data.withUnsafeMutableBufferPointer { o in
            attended.data.withUnsafeBufferPointer { a in HieraKernels.add(a.baseAddress!, into: o.baseAddress!, count: o.count) }
        }
        feedForwardResidual(&out.data)
        return out
    }
}

import Foundation
import Tensor

extension DinoVisionTransformer {
    /// Reusable per-forward buffers sized for one token count, so the 12 blocks allocate nothing.
    final class Scratch {
        let tokens: Int
        var normed: [Float]
        var qkv: [Float]
        var attended: [Float]
        var hidden: [Float]
        var branch: [Float]

        init(tokens: Int, dim: Int, hidden: Int) {
            self.tokens = tokens
            normed = [Float](repeating: 0, count: tokens * dim)
            qkv = [Float](repeating: 0, count: tokens * 3 * dim)
            attended = [Float](repeating: 0, count: tokens * dim)
            self.hidden = [Float](repeating: 0, count: tokens * hidden)
            branch = [Float](repeating: 0, count: tokens * dim)
        }
    }

    /// `Attention`: fused `qkv` projection, multi-head softmax attention, output `proj`.
    public struct Attention: Sendable {
        public let qkv: Linear
        public let proj: Linear
        public let numHeads: Int
        public var dim: Int { proj.outFeatures }
        public var headDim: Int { dim / numHeads }

        init(_ w: Weights, dim: Int, numHeads: Int) throws {
            qkv = try Linear(w.child("qkv"), in: dim, out: 3 * dim)
            proj = try Linear(w.child("proj"), in: dim, out: dim)
            self.numHeads = numHeads
        }

        /// `x [tokens, dim]` (already normed) → `out [tokens, dim]`.
        func apply(_ x: UnsafePointer<Float>, tokens: Int, scratch: Scratch, into out: UnsafeMutablePointer<Float>) {
            let d = dim
            scratch.qkv.withUnsafeMutableBufferPointer { qkvBuffer in
                let packed = qkvBuffer.baseAddress!
                qkv.apply(x, rows: tokens, into: packed)
                scratch.attended.withUnsafeMutableBufferPointer { attended in
                    // q, k, v are column slices of the packed projection: [q(C) | k(C) | v(C)] per token.
                    AttentionKernel.scaledDotProduct(
                        q: packed, ldq: 3 * d, k: packed + d, ldk: 3 * d, v: packed + 2 * d, ldv: 3 * d,
                        queries: tokens, keys: tokens, heads: numHeads, headDim: headDim,
                        scale: 1 / Float(headDim).squareRoot(), output: attended.baseAddress!, ldo: d)
                    proj.apply(attended.baseAddress!, rows: tokens, into: out)
                }
            }
        }
    }

    /// The feed-forward branch: `Mlp` (fc1 → exact GELU → fc2) for ViT-S/B/L, `SwiGLUFFN`
    /// (w12 → silu(x1)·x2 → w3) for ViT-g.
    public enum FeedForward: Sendable {
        case mlp(fc1: Linear, fc2: Linear)
        case swiglu(w12: Linear, w3: Linear)

        init(_ w: Weights, dim: Int) throws {
            if w.contains("fc1.weight") {
                let hidden = try w("fc1.weight").shape.first ?? 0
                self = .mlp(fc1: try Linear(w.child("fc1"), in: dim, out: hidden),
                            fc2: try Linear(w.child("fc2"), in: hidden, out: dim))
            } else {
                let doubled = try w("w12.weight").shape.first ?? 0
                self = .swiglu(w12: try Linear(w.child("w12"), in: dim, out: doubled),
                               w3: try Linear(w.child("w3"), in: doubled / 2, out: dim))
            }
        }

        /// `x [tokens, dim]` → `[tokens, dim]`.
        public func callAsFunction(_ x: Tensor) -> Tensor {
            let dim: Int
            switch self {
            case .mlp(let fc1, _): dim = fc1.inFeatures
            case .swiglu(let w12, _): dim = w12.inFeatures
            }
            let tokens = x.count / dim
            let scratch = Scratch(tokens: tokens, dim: dim, hidden: hiddenWidth)
            return Tensor(shape: x.shape) { out in
                x.withUnsafeBufferPointer { apply($0.baseAddress!, tokens: tokens, scratch: scratch, into: out.baseAddress!) }
            }
        }

        public var hiddenWidth: Int {
            switch self {
            case .mlp(let fc1, _): return fc1.outFeatures
            case .swiglu(let w12, _): return w12.outFeatures
            }
        }

        func apply(_ x: UnsafePointer<Float>, tokens: Int, scratch: Scratch, into out: UnsafeMutablePointer<Float>) {
            scratch.hidden.withUnsafeMutableBufferPointer { hiddenBuffer in
                let hidden = hiddenBuffer.baseAddress!
                switch self {
                case .mlp(let fc1, let fc2):
                    fc1.apply(x, rows: tokens, into: hidden)
                    Activations.geluInPlace(hidden, count: tokens * fc1.outFeatures)
                    fc2.apply(hidden, rows: tokens, into: out)
                case .swiglu(let w12, let w3):
                    w12.apply(x, rows: tokens, into: hidden)
                    let h = w12.outFeatures / 2
                    // silu(x1)·x2 written compactly into the first half of each row's storage.
                    for r in 0..<tokens {
                        let row = hidden + r * 2 * h, dst = hidden + r * h
                        for j in 0..<h {
                            let a = row[j], b = row[h + j]
                            dst[j] = a / (1 + Foundation.exp(-a)) * b
                        }
                    }
                    w3.apply(hidden, rows: tokens, into: out)
                }
            }
        }
    }

    /// `NestedTensorBlock` / `Block`: pre-norm attention and feed-forward branches, each scaled by
    /// its LayerScale and added to the residual stream.
    public struct Block: Sendable {
        public let norm1: LayerNorm
        public let attn: Attention
        public let ls1: LayerScale
        public let norm2: LayerNorm
        public let mlp: FeedForward
        public let ls2: LayerScale

        init(_ w: Weights, dim: Int, numHeads: Int) throws {
            norm1 = try LayerNorm(w.child("norm1"), dim: dim)
            attn = try Attention(w.child("attn"), dim: dim, numHeads: numHeads)
            ls1 = try LayerScale(w.child("ls1"), dim: dim)
            norm2 = try LayerNorm(w.child("norm2"), dim: dim)
            mlp = try FeedForward(w.child("mlp"), dim: dim)
            ls2 = try LayerScale(w.child("ls2"), dim: dim)
        }

        /// `x = x + ls1(attn(norm1(x))); x = x + ls2(mlp(norm2(x)))` on `[tokens, dim]`.
        public func callAsFunction(_ x: Tensor) -> Tensor {
            var out = x
            let tokens = x.count / attn.dim
            let scratch = Scratch(tokens: tokens, dim: attn.dim, hidden: mlp.hiddenWidth)
            out.withUnsafeMutableBufferPointer { apply(residual: $0.baseAddress!, tokens: tokens, scratch: scratch) }
            return out
        }

        func apply(residual x: UnsafeMutablePointer<Float>, tokens: Int, scratch: Scratch) {
            scratch.normed.withUnsafeMutableBufferPointer { normed in
                scratch.branch.withUnsafeMutableBufferPointer { branch in
                    norm1.apply(x, rows: tokens, into: normed.baseAddress!)
                    attn.apply(normed.baseAddress!, tokens: tokens, scratch: scratch, into: branch.baseAddress!)
                    ls1.addScaled(branch.baseAddress!, rows: tokens, to: x)
                    norm2.apply(x, rows: tokens, into: normed.baseAddress!)
                    mlp.apply(normed.baseAddress!, tokens: tokens, scratch: scratch, into: branch.baseAddress!)
                    ls2.addScaled(branch.baseAddress!, rows: tokens, to: x)
                }
            }
        }
    }
}

import Foundation
import TensorAVX512

/// A Linear layer's weight `[outFeatures, inFeatures]`, prepared once for repeated
/// `y = x·Wᵀ + bias` products. On AVX-512 CPUs the weight is packed into 32-column panels for
/// the `TensorAVX512` kernel and the original layout is not kept (so weights are not held
/// twice); elsewhere it is the plain matrix for OpenBLAS.
public final class PackedLinearWeights: @unchecked Sendable {
    // Immutable after init; `@unchecked` because the packed buffer is a raw allocation.
    public let outFeatures: Int
    public let inFeatures: Int
    private let plain: Tensor?
    private let packed: UnsafeMutablePointer<Float>?

    public init(_ weight: Tensor, useAVX512: Bool = CPUFeatures.hasAVX512) {
        precondition(weight.rank == 2, "a Linear weight is [out, in], got \(weight.shape)")
        let (n, k) = (weight.shape[0], weight.shape[1])
        outFeatures = n
        inFeatures = k
        if useAVX512 {
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: AVX512GEMM.packedCount(n: n, k: k))
            weight.withUnsafeBufferPointer { AVX512GEMM.pack($0.baseAddress!, n: n, k: k, into: buffer) }
            packed = buffer
            plain = nil
        } else {
            packed = nil
            plain = weight
        }
    }

    deinit { packed?.deallocate() }

    public var isPackedForAVX512: Bool { packed != nil }

    /// `y[rows, out] = x[rows, in]·Wᵀ + bias` (bias optional, `[out]`).
    public func apply(_ x: UnsafePointer<Float>, rows: Int, bias: UnsafePointer<Float>?, into y: UnsafeMutablePointer<Float>) {
        guard let packed else {
            plain!.withUnsafeBufferPointer { w in
                BLAS.linear(x, rows: rows, inFeatures: inFeatures, weight: w.baseAddress!, bias: bias,
                            outFeatures: outFeatures, into: y)
            }
            return
        }
        let n = outFeatures
        let panels = (n + AVX512GEMM.panelWidth - 1) / AVX512GEMM.panelWidth
        nonisolated(unsafe) let (a, b, c, initial) = (x, UnsafePointer(packed), y, bias)
        let (k, m) = (inFeatures, rows)
        // Threads split the output columns: each keeps its own weight panels hot in its L2 and
        // first fills its own columns of C with the bias (the kernel accumulates onto C).
        ComputeThreads.parallelRanges(panels) { range in
            let col0 = range.lowerBound * AVX512GEMM.panelWidth
            let cols = min(range.upperBound * AVX512GEMM.panelWidth, n) - col0
            for r in 0..<m {
                if let initial { (c + r * n + col0).update(from: initial + col0, count: cols) }
                else { (c + r * n + col0).update(repeating: 0, count: cols) }
            }
            AVX512GEMM.multiplyAccumulate(a: a, lda: k, m: m, k: k, packed: b, n: n, panelRange: range, c: c, ldc: n)
        }
    }

    /// `x [..., in] → [..., out]`.
    public func callAsFunction(_ x: Tensor, bias: Tensor?) -> Tensor {
        precondition(x.shape.last == inFeatures, "linear: input \(x.shape) does not match weight [\(outFeatures), \(inFeatures)]")
        precondition(bias == nil || bias!.count == outFeatures, "linear: bias \(bias!.shape) for \(outFeatures) outputs")
        let rows = x.count / max(inFeatures, 1)
        return Tensor(shape: Array(x.shape.dropLast()) + [outFeatures]) { out in
            x.withUnsafeBufferPointer { px in
                withOptionalPointers(bias, nil) { b, _ in apply(px.baseAddress!, rows: rows, bias: b, into: out.baseAddress!) }
            }
        }
    }
}

import TensorAVX512

/// Elementwise activations. The pointer forms work in place (the models fuse them after a GEMM
/// while the data is still in cache); the `Tensor` forms return new tensors.
public enum Activations {
    /// Exact erf GELU in place, parallel over chunks; `parallel: false` for callers that already
    /// run one task per core.
    public static func geluInPlace(_ data: UnsafeMutablePointer<Float>, count: Int, parallel: Bool = true) {
        let body: (UnsafeMutablePointer<Float>, Int) -> Void = CPUFeatures.hasAVX512
            ? { p, n in VectorMath16.geluInPlace(p, count: n) }
            : { p, n in mapInPlace(p, count: n, VectorMath.gelu) }
        if parallel { chunked(data, count, body) } else { body(data, count) }
    }

    /// `max(x, 0)` in place.
    public static func reluInPlace(_ data: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count where !(data[i] > 0) { data[i] = data[i].isNaN ? data[i] : 0 }
    }

    /// Logistic sigmoid in place (vectorised exp; equals 0.5 exactly for |x| below ~1e-7, as
    /// float32 PyTorch does).
    public static func sigmoidInPlace(_ data: UnsafeMutablePointer<Float>, count: Int) {
        chunked(data, count) { p, n in mapInPlace(p, count: n, VectorMath.sigmoid) }
    }

    private static func chunked(_ data: UnsafeMutablePointer<Float>, _ count: Int,
                                _ body: (UnsafeMutablePointer<Float>, Int) -> Void) {
        let chunk = 1 << 16
        let chunks = (count + chunk - 1) / chunk
        nonisolated(unsafe) let base = data
        ComputeThreads.parallelFor(chunks) { c in
            let start = c * chunk
            body(base + start, min(chunk, count - start))
        }
    }
}

extension Tensor {
    /// Exact (erf) GELU, as `torch.nn.GELU()`.
    public func gelu() -> Tensor { mapped { Activations.geluInPlace($0, count: $1) } }
    public func relu() -> Tensor { mapped(Activations.reluInPlace) }
    public func sigmoid() -> Tensor { mapped(Activations.sigmoidInPlace) }

    private func mapped(_ f: (UnsafeMutablePointer<Float>, Int) -> Void) -> Tensor {
        var out = self
        guard count > 0 else { return out }
        out.withUnsafeMutableBufferPointer { f($0.baseAddress!, $0.count) }
        return out
    }
}

import Tensor

/// Elementwise glue the SAM 2 heads and memory encoder need (residual adds, broadcasts, slices).
/// Kept here under a distinct name rather than in the shared Tensor module; every product still
/// goes through `BLAS.sgemm`.
enum HeadsTensorOps {
    /// `a + b` for tensors of equal element count; the result takes `a`'s shape. `a` is consumed:
    /// a temporary (a layer's output) is updated in place instead of copied.
    static func add(_ a: consuming Tensor, _ b: Tensor) -> Tensor {
        precondition(a.count == b.count, "add: \(a.shape) vs \(b.shape)")
        var out = a
        out.withUnsafeMutableBufferPointer { o in
            b.withUnsafeBufferPointer { y in for i in 0..<o.count { o[i] += y[i] } }
        }
        return out
    }

    /// `x + row` with `row [C]` broadcast over every row of `x [..., C]` (PyTorch `[1,1,C]` broadcast).
    static func addRow(_ x: Tensor, _ row: Tensor) -> Tensor {
        let c = row.count
        precondition(x.shape.last == c, "addRow: \(x.shape) + [\(c)]")
        var out = x
        out.withUnsafeMutableBufferPointer { o in
            row.withUnsafeBufferPointer { r in
                for base in stride(from: 0, to: o.count, by: c) { for j in 0..<c { o[base + j] += r[j] } }
            }
        }
        return out
    }

    /// `[C, H·W]` ⇄ `[H·W, C]` transpose of a single image (NCHW flatten(2) ↔ permute(0,2,1)).
    static func transpose2d(_ x: Tensor, rows: Int, cols: Int) -> Tensor {
        Transpose.matrix(x, rows: rows, columns: cols)
    }

    /// Item `index` of the leading (batch) dimension, keeping a batch of 1: `x[index:index+1]`.
    static func item(_ x: Tensor, _ index: Int) -> Tensor {
        let n = x.shape[0], size = x.count / max(n, 1)
        precondition(index >= 0 && index < n, "item \(index) of \(x.shape)")
        return Tensor(shape: [1] + x.shape.dropFirst(), storage: Array(x.storage[(index * size)..<((index + 1) * size)]))
    }

    /// Concatenation along the leading dimension (the inverse of `item`).
    static func stack(_ items: [Tensor]) -> Tensor {
        precondition(!items.isEmpty, "stack of no tensors")
        let inner = Array(items[0].shape.dropFirst())
        var storage: [Float] = []
        storage.reserveCapacity(items.reduce(0) { $0 + $1.count })
        var n = 0
        for t in items {
            precondition(Array(t.shape.dropFirst()) == inner, "stack: \(t.shape) vs [_, \(inner)]")
            storage += t.storage
            n += t.shape[0]
        }
        return Tensor(shape: [n] + inner, storage: storage)
    }

    /// Rows `range` of a `[N, C]` tensor.
    static func rows(_ x: Tensor, _ range: Range<Int>) -> Tensor {
        let c = x.shape.last!
        return Tensor(shape: [range.count, c], storage: Array(x.storage[(range.lowerBound * c)..<(range.upperBound * c)]))
    }
}

/// A dense float32 tensor: an explicit shape and owned, contiguous, row-major storage.
///
/// Value semantics come from the backing `[Float]` (copy on write). Kernels work on
/// `withUnsafeBufferPointer` / `withUnsafeMutableBufferPointer` so the hot loops never pay
/// for bounds checks or copy-on-write checks per element.
public struct Tensor: Sendable, Equatable {
    public private(set) var shape: [Int]
    public var storage: [Float]

    /// A tensor over `storage` with `shape`; the element counts must agree.
    public init(shape: [Int], storage: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        precondition(shape.reduce(1, *) == storage.count,
                     "shape \(shape) holds \(shape.reduce(1, *)) elements, storage has \(storage.count)")
        self.shape = shape
        self.storage = storage
    }

    /// A tensor of `shape` filled with `value`.
    public init(shape: [Int], repeating value: Float = 0) {
        self.init(shape: shape, storage: [Float](repeating: value, count: shape.reduce(1, *)))
    }

    /// A tensor whose storage is written by `initializer`, without zero-filling it first.
    public init(shape: [Int], unsafeUninitialized initializer: (inout UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows {
        let count = shape.reduce(1, *)
        let storage = try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            try initializer(&buffer)
            initialized = count
        }
        self.init(shape: shape, storage: storage)
    }

    public var count: Int { storage.count }
    public var rank: Int { shape.count }

    /// The same elements viewed with another shape of equal element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var resolved = newShape
        if let wildcard = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != wildcard }.map(\.element).reduce(1, *)
            precondition(known > 0 && count % known == 0, "cannot reshape \(shape) to \(newShape)")
            resolved[wildcard] = count / known
        }
        return Tensor(shape: resolved, storage: storage)
    }

    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try storage.withUnsafeBufferPointer(body)
    }

    public mutating func withUnsafeMutableBufferPointer<R>(_ body: (inout UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        try storage.withUnsafeMutableBufferPointer(body)
    }

    /// Element at a multi-index (for tests and debugging; kernels use the buffers).
    public subscript(_ index: Int...) -> Float {
        get { storage[flatIndex(index)] }
        set { storage[flatIndex(index)] = newValue }
    }

    private func flatIndex(_ index: [Int]) -> Int {
        precondition(index.count == shape.count, "index \(index) for shape \(shape)")
        var flat = 0
        for (i, dim) in zip(index, shape) {
            precondition(i >= 0 && i < dim, "index \(index) out of bounds for shape \(shape)")
            flat = flat * dim + i
        }
        return flat
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String { "Tensor(shape: \(shape))" }
}

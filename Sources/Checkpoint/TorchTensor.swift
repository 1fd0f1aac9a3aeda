import Tensor

/// One `data/<key>` record of a torch checkpoint: a flat little-endian array of `elementCount`
/// elements of `dtype`. Several tensors may view the same storage.
public struct TorchStorage: Sendable {
    public let key: String
    public let dtype: DType
    public let elementCount: Int
    let file: MappedFile
    let byteRange: Range<Int>

    init(key: String, dtype: DType, elementCount: Int, file: MappedFile, byteRange: Range<Int>) throws {
        let needed = elementCount.multipliedReportingOverflow(by: dtype.byteSize)
        guard elementCount >= 0, !needed.overflow, needed.partialValue == byteRange.count else {
            throw CheckpointError(file.path, "storage '\(key)' declares \(elementCount) \(dtype.rawValue) elements but its data record holds \(byteRange.count) bytes")
        }
        self.key = key
        self.dtype = dtype
        self.elementCount = elementCount
        self.file = file
        self.byteRange = byteRange
    }
}

/// A tensor as `torch._utils._rebuild_tensor_v2` describes it: a strided view (offset, sizes and
/// strides in elements) into a storage. The view is checked against the storage when it is created,
/// so materialising it can never read outside the storage's bytes.
public struct TorchTensor: Sendable, CustomStringConvertible {
    public let storage: TorchStorage
    public let storageOffset: Int
    public let shape: [Int]
    public let strides: [Int]
    public let requiresGrad: Bool

    /// The most elements a view may have beyond its storage's own count (see init).
    public static let maximumExpandedElements = 1 << 24

    public var dtype: DType { storage.dtype }
    public var elementCount: Int { shape.reduce(1, *) }
    public var description: String { "\(dtype.rawValue)\(shape)" }

    init(storage: TorchStorage, storageOffset: Int, shape: [Int], strides: [Int], requiresGrad: Bool) throws {
        let path = storage.file.path
        guard shape.count == strides.count else {
            throw CheckpointError(path, "tensor on storage '\(storage.key)': \(shape.count) sizes but \(strides.count) strides")
        }
        guard storageOffset >= 0, shape.allSatisfy({ $0 >= 0 }), strides.allSatisfy({ $0 >= 0 }) else {
            throw CheckpointError(path, "tensor on storage '\(storage.key)': negative offset, size or stride (offset \(storageOffset), size \(shape), stride \(strides))")
        }
        var count = 1
        for d in shape {
            let (p, o) = count.multipliedReportingOverflow(by: d)
            guard !o else { throw CheckpointError(path, "tensor on storage '\(storage.key)': size \(shape) overflows") }
            count = p
        }
        // Zero strides (expanded views) let a tiny storage describe an enormous tensor; state dicts
        // never hold those, and materialising one could exhaust memory, so the logical size may
        // exceed the storage only up to a small bound.
        guard count <= max(storage.elementCount, Self.maximumExpandedElements) else {
            throw CheckpointError(path, "tensor \(shape) has \(count) elements but storage '\(storage.key)' holds only \(storage.elementCount) (an expanded view larger than \(Self.maximumExpandedElements) elements)")
        }
        if count > 0 {
            // The furthest element the view touches must lie inside the storage.
            var last = storageOffset
            for (d, s) in zip(shape, strides) {
                let (step, o1) = (d - 1).multipliedReportingOverflow(by: s)
                let (sum, o2) = last.addingReportingOverflow(step)
                guard !o1, !o2 else { throw CheckpointError(path, "tensor on storage '\(storage.key)': strides \(strides) overflow") }
                last = sum
            }
            guard last < storage.elementCount else {
                throw CheckpointError(path, "tensor \(shape) with offset \(storageOffset) and strides \(strides) reaches element \(last) of storage '\(storage.key)', which has \(storage.elementCount) elements")
            }
        }
        self.storage = storage
        self.storageOffset = storageOffset
        self.shape = shape
        self.strides = strides
        self.requiresGrad = requiresGrad
    }

    /// Row-major strides of `shape`, i.e. what a contiguous tensor has.
    static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var s = 1
        for i in shape.indices.reversed() {
            strides[i] = s
            s *= max(shape[i], 1)
        }
        return strides
    }

    public var isContiguous: Bool {
        zip(shape, zip(strides, Self.contiguousStrides(shape))).allSatisfy { d, pair in d <= 1 || pair.0 == pair.1 }
    }

    /// The elements in logical row-major order, as little-endian bytes of `dtype` (views and
    /// transposes materialised).
    public func contiguousBytes() throws -> [UInt8] {
        let size = dtype.byteSize
        let count = elementCount
        return try storage.file.withBytes(storage.byteRange) { source in
            [UInt8](unsafeUninitializedCapacity: count * size) { out, initialized in
                defer { initialized = count * size }
                guard count > 0 else { return }
                if isContiguous {
                    out.baseAddress!.update(from: source.baseAddress!.assumingMemoryBound(to: UInt8.self) + storageOffset * size, count: count * size)
                    return
                }
                // Walk the multi-index like an odometer; the bounds were checked at init.
                var index = [Int](repeating: 0, count: shape.count)
                var element = storageOffset
                let src = source.baseAddress!.assumingMemoryBound(to: UInt8.self)
                for n in 0..<count {
                    (out.baseAddress! + n * size).update(from: src + element * size, count: size)
                    var axis = shape.count - 1
                    while axis >= 0 {
                        index[axis] += 1
                        element += strides[axis]
                        if index[axis] < shape[axis] { break }
                        element -= strides[axis] * shape[axis]
                        index[axis] = 0
                        axis -= 1
                    }
                }
            }
        }
    }

    /// The values as a float32 `Tensor` (f16/bf16 exactly; integers rounded where float32 cannot hold them).
    public func float32() throws -> Tensor {
        if isContiguous {
            // Straight from the mapped file: no intermediate byte copy for the common case.
            let size = dtype.byteSize
            let start = storage.byteRange.lowerBound + storageOffset * size
            return try storage.file.withBytes(start..<(start + elementCount * size)) { raw in
                Tensor(shape: shape) { out in ElementConversion.toFloat32(raw, dtype: dtype, into: out) }
            }
        }
        let bytes = try contiguousBytes()
        return bytes.withUnsafeBytes { raw in
            Tensor(shape: shape) { out in ElementConversion.toFloat32(raw, dtype: dtype, into: out) }
        }
    }

    /// The values of an I64 tensor, exactly.
    public func int64() throws -> [Int64] {
        guard dtype == .i64 else { throw CheckpointError(storage.file.path, "tensor on storage '\(storage.key)' is \(dtype.rawValue), not I64") }
        let bytes = try contiguousBytes()
        return bytes.withUnsafeBytes { raw in (0..<elementCount).map { Int64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) } }
    }
}

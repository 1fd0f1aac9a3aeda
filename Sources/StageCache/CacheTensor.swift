#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

#if _endian(big)
#error("the cache's canonical content is little-endian and is hashed straight from memory")
#endif

/// Element type of a cached tensor.
public enum CacheDType: UInt8, Sendable, CustomStringConvertible {
    case float32 = 1
    case uint8 = 2
    case bool = 3

    public var byteWidth: Int { self == .float32 ? 4 : 1 }
    public var description: String {
        switch self { case .float32: "float32"; case .uint8: "uint8"; case .bool: "bool" }
    }
}

/// The cache's own tensor value: a dtype, a shape and contiguous row-major elements. It does not
/// depend on the model's Tensor module so the cache stays at the bottom of the module graph.
public struct CacheTensor: Sendable {
    public enum Elements: Sendable {
        case float32([Float])
        case uint8([UInt8])
        case bool([Bool])
    }

    public let shape: [Int]
    public let elements: Elements

    public var dtype: CacheDType {
        switch elements { case .float32: .float32; case .uint8: .uint8; case .bool: .bool }
    }
    public var count: Int {
        switch elements { case .float32(let v): v.count; case .uint8(let v): v.count; case .bool(let v): v.count }
    }
    /// Bytes of the canonical little-endian content (what the digest covers).
    public var byteCount: Int { count * dtype.byteWidth }

    public init(shape: [Int], floats: [Float]) {
        precondition(shape.reduce(1, *) == floats.count, "shape \(shape) does not hold \(floats.count) floats")
        self.shape = shape; self.elements = .float32(floats)
    }
    public init(shape: [Int], bytes: [UInt8]) {
        precondition(shape.reduce(1, *) == bytes.count, "shape \(shape) does not hold \(bytes.count) bytes")
        self.shape = shape; self.elements = .uint8(bytes)
    }
    public init(shape: [Int], mask: [Bool]) {
        precondition(shape.reduce(1, *) == mask.count, "shape \(shape) does not hold \(mask.count) mask values")
        self.shape = shape; self.elements = .bool(mask)
    }
    /// An opaque byte string (shape [n]).
    public init(bytes: [UInt8]) { self.init(shape: [bytes.count], bytes: bytes) }

    public var floats: [Float]? { if case .float32(let v) = elements { v } else { nil } }
    public var bytes: [UInt8]? { if case .uint8(let v) = elements { v } else { nil } }
    public var mask: [Bool]? { if case .bool(let v) = elements { v } else { nil } }

    /// Calls `body` with the canonical content bytes (little-endian, one byte per bool as 0/1).
    public func withContentBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch elements {
        case .float32(let v): try v.withUnsafeBytes(body)
        case .uint8(let v): try v.withUnsafeBytes(body)
        case .bool(let v): try v.withUnsafeBytes(body)
        }
    }

    /// Same dtype, shape and bytes (NaN payloads compared as bits, -0.0 ≠ 0.0).
    public func isBitwiseEqual(to other: CacheTensor) -> Bool {
        dtype == other.dtype && shape == other.shape
            && withContentBytes { a in other.withContentBytes { b in
                a.count == b.count && (a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0)
            } }
    }

    /// The values the float16 lossy codec will give back. A pipeline that stores a stage lossily uses
    /// this on the compute path too, so a hit and a miss produce identical bits.
    public func roundedToFloat16() -> CacheTensor {
        guard case .float32(let v) = elements else { return self }
        let r = [Float](unsafeUninitializedCapacity: v.count) { out, n in
            v.withUnsafeBufferPointer { Float16Conversion.roundTrip($0.baseAddress!, count: v.count, into: out.baseAddress!) }
            n = v.count
        }
        return CacheTensor(shape: shape, floats: r)
    }
}

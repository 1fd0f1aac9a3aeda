import Foundation
import Tensor
import UntrustedInput

/// One tensor's place in a safetensors file.
public struct SafetensorsEntry: Sendable, Equatable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    /// Byte range inside the file (already offset past the header).
    public let byteRange: Range<Int>

    public var elementCount: Int { shape.reduce(1, *) }
}

/// A memory-mapped safetensors file (https://github.com/huggingface/safetensors format):
/// `u64 little-endian header length N`, `N bytes of JSON`, then the tensor bytes.
/// Every declared size and offset is checked against the file before anything is read.
public final class SafetensorsFile: Sendable {
    /// Headers above this are refused: real ones are well under 1 MB, and JSON parsing of a
    /// hostile multi-GB header would be a denial of service.
    public static let maximumHeaderBytes = 100 << 20

    public let path: String
    /// Entries in file order (by offset), `__metadata__` excluded.
    public let entries: [SafetensorsEntry]
    public let metadata: [String: String]
    private let file: MappedFile
    private let index: [String: Int]

    public init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path)
        guard file.count >= 8 else { throw CheckpointError(path, "too short for a safetensors header (\(file.count) bytes)") }
        let headerLength = try file.withBytes(0..<8) { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= UInt64(Self.maximumHeaderBytes) else {
            throw CheckpointError(path, "declared header length \(headerLength) exceeds the \(Self.maximumHeaderBytes)-byte limit")
        }
        guard 8 + Int(headerLength) <= file.count else {
            throw CheckpointError(path, "declared header length \(headerLength) runs past the end of the file (\(file.count) bytes)")
        }
        let dataStart = 8 + Int(headerLength)
        // Foundation's JSON parser recurses per level: depth is checked on the raw header first.
        if let problem = try file.withBytes(8..<dataStart, { JSONNesting.problem(in: $0) }) {
            throw CheckpointError(path, "header " + problem)
        }
        let json = try file.withBytes(8..<dataStart) { Data($0) }
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: json)
        } catch {
            throw CheckpointError(path, "header is not valid JSON")
        }
        guard let header = parsed as? [String: Any] else { throw CheckpointError(path, "header is not a JSON object") }

        var metadata: [String: String] = [:]
        var entries: [SafetensorsEntry] = []
        let dataLength = file.count - dataStart
        for (name, value) in header {
            if name == "__metadata__" {
                guard let map = value as? [String: Any] else { throw CheckpointError(path, "__metadata__ is not an object") }
                for (k, v) in map {
                    guard let s = v as? String else { throw CheckpointError(path, "__metadata__[\(k)] is not a string") }
                    metadata[k] = s
                }
                continue
            }
            entries.append(try Self.parseEntry(name: name, value: value, dataStart: dataStart, dataLength: dataLength, path: path))
        }
        entries.sort { ($0.byteRange.lowerBound, $0.name) < ($1.byteRange.lowerBound, $1.name) }
        // Overlapping tensors are not produced by any writer and would let one tensor alias another.
        for (a, b) in zip(entries, entries.dropFirst()) where a.byteRange.upperBound > b.byteRange.lowerBound && !a.byteRange.isEmpty && !b.byteRange.isEmpty {
            throw CheckpointError(path, "tensors '\(a.name)' and '\(b.name)' overlap in the file")
        }
        self.entries = entries
        self.metadata = metadata
        self.index = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($0.element.name, $0.offset) })
    }

    private static func parseEntry(name: String, value: Any, dataStart: Int, dataLength: Int, path: String) throws -> SafetensorsEntry {
        guard let fields = value as? [String: Any],
              let dtypeName = fields["dtype"] as? String,
              let shapeValues = fields["shape"] as? [Any],
              let offsetValues = fields["data_offsets"] as? [Any], offsetValues.count == 2
        else { throw CheckpointError(path, "tensor '\(name)': entry needs dtype, shape and two data_offsets") }
        guard let dtype = DType(rawValue: dtypeName) else {
            throw CheckpointError(path, "tensor '\(name)': unsupported dtype \(dtypeName)")
        }
        var shape: [Int] = []
        var elements = 1
        for dimension in shapeValues {
            guard let d = (dimension as? NSNumber)?.intValue, d >= 0 else {
                throw CheckpointError(path, "tensor '\(name)': shape \(shapeValues) has a non-integer or negative dimension")
            }
            let (product, overflow) = elements.multipliedReportingOverflow(by: d)
            guard !overflow, product <= dataLength else {
                throw CheckpointError(path, "tensor '\(name)': shape \(shapeValues) is larger than the file")
            }
            elements = product
            shape.append(d)
        }
        guard let begin = (offsetValues[0] as? NSNumber)?.intValue, let end = (offsetValues[1] as? NSNumber)?.intValue,
              begin >= 0, begin <= end
        else { throw CheckpointError(path, "tensor '\(name)': invalid data_offsets \(offsetValues)") }
        guard end <= dataLength else {
            throw CheckpointError(path, "tensor '\(name)': data_offsets \(begin)..<\(end) run past the end of the data (\(dataLength) bytes)")
        }
        guard end - begin == elements * dtype.byteSize else {
            throw CheckpointError(path, "tensor '\(name)': \(end - begin) bytes stored, shape \(shape) of \(dtypeName) needs \(elements * dtype.byteSize)")
        }
        return SafetensorsEntry(name: name, dtype: dtype, shape: shape, byteRange: (dataStart + begin)..<(dataStart + end))
    }

    public var names: [String] { entries.map(\.name) }

    public func entry(_ name: String) -> SafetensorsEntry? { index[name].map { entries[$0] } }

    private func requireEntry(_ name: String) throws -> SafetensorsEntry {
        guard let entry = entry(name) else { throw CheckpointError(path, "no tensor named '\(name)'") }
        return entry
    }

    /// The raw little-endian bytes of a tensor.
    public func rawBytes(_ name: String) throws -> [UInt8] {
        let entry = try requireEntry(name)
        return try file.withBytes(entry.byteRange) { Array($0) }
    }

    /// A tensor converted to float32 (F16/BF16/F64 and integer types are converted exactly where
    /// float32 can represent the value).
    public func tensor(_ name: String) throws -> Tensor {
        let entry = try requireEntry(name)
        return try file.withBytes(entry.byteRange) { bytes in
            Tensor(shape: entry.shape) { out in
                ElementConversion.toFloat32(bytes, dtype: entry.dtype, into: out)
            }
        }
    }

    public func uint8(_ name: String) throws -> [UInt8] {
        let entry = try requireEntry(name)
        guard entry.dtype == .u8 || entry.dtype == .bool else { throw CheckpointError(path, "tensor '\(name)' is \(entry.dtype.rawValue), not U8") }
        return try file.withBytes(entry.byteRange) { Array($0) }
    }

    public func int64(_ name: String) throws -> [Int64] {
        let entry = try requireEntry(name)
        guard entry.dtype == .i64 else { throw CheckpointError(path, "tensor '\(name)' is \(entry.dtype.rawValue), not I64") }
        return try file.withBytes(entry.byteRange) { bytes in
            (0..<entry.elementCount).map { Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) }
        }
    }
}

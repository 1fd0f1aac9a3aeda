import Foundation
import Tensor

/// Writes float32 tensors as a safetensors file laid out like the reference writer's output:
/// `__metadata__` first, then the tensors sorted by name with their data in the same order, and the
/// JSON header padded with spaces to a multiple of 8 bytes so that the data is 8-byte aligned.
/// The file is written under a temporary name and renamed, so a reader never sees half a file.
public enum SafetensorsWriter {
    /// The header bytes (JSON + space padding) and the sorted names, for `tensors` of these shapes.
    static func header(_ entries: [(name: String, shape: [Int])], metadata: [String: String]) -> [UInt8] {
        var json = "{"
        var first = true
        func field(_ key: String, _ value: String) {
            json += (first ? "" : ",") + quoted(key) + ":" + value
            first = false
        }
        if !metadata.isEmpty {
            field("__metadata__", "{" + metadata.keys.sorted().map { quoted($0) + ":" + quoted(metadata[$0]!) }.joined(separator: ",") + "}")
        }
        var offset = 0
        for entry in entries {
            let bytes = entry.shape.reduce(1, *) * 4
            field(entry.name, "{\"dtype\":\"F32\",\"shape\":[\(entry.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + bytes)]}")
            offset += bytes
        }
        json += "}"
        var bytes = Array(json.utf8)
        while bytes.count % 8 != 0 { bytes.append(0x20) }
        return bytes
    }

    /// JSON string literal: quotes, backslashes and control characters escaped; other text as UTF-8.
    static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// Writes `tensors` (names must be unique and not `__metadata__`) to `path`.
    public static func write(_ tensors: [(String, Tensor)], metadata: [String: String] = [:], to path: String) throws {
        let tensors = tensors.map { pair in SourceTensor(name: pair.0, dtype: .f32, shape: pair.1.shape) { pair.1 } }
        try write(tensors, metadata: metadata, to: path)
    }

    /// Writes `tensors` as F32, loading each one only when its bytes are written, so converting a
    /// multi-GB checkpoint holds one tensor in memory at a time.
    public static func write(_ tensors: [SourceTensor], metadata: [String: String] = [:], to path: String) throws {
        var seen = Set<String>()
        for name in tensors.map(\.name) {
            guard name != "__metadata__" else { throw CheckpointError(path, "a tensor cannot be named __metadata__") }
            guard seen.insert(name).inserted else { throw CheckpointError(path, "tensor '\(name)' given twice") }
        }
        let sorted = tensors.sorted { $0.name < $1.name }
        let headerBytes = header(sorted.map { ($0.name, $0.shape) }, metadata: metadata)

        let temporary = path + ".partial-\(ProcessInfo.processInfo.processIdentifier)"
        guard FileManager.default.createFile(atPath: temporary, contents: nil),
              let handle = FileHandle(forWritingAtPath: temporary)
        else { throw CheckpointError(path, "cannot create \(temporary)") }
        do {
            defer { try? handle.close() }
            var length = UInt64(headerBytes.count).littleEndian
            try handle.write(contentsOf: Data(bytes: &length, count: 8))
            try handle.write(contentsOf: headerBytes)
            for source in sorted {
                let tensor = try source.load()
                guard tensor.shape == source.shape else {
                    throw CheckpointError(path, "tensor '\(source.name)' loaded with shape \(tensor.shape), declared \(source.shape)")
                }
                #if _endian(big)
                let data = Data(tensor.storage.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian) { Array($0) } })
                #else
                let data = tensor.storage.withUnsafeBytes { Data($0) }
                #endif
                try handle.write(contentsOf: data)
            }
            try handle.synchronize()
        } catch let error as CheckpointError {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw CheckpointError(path, "write failed: \(error)")
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: temporary)
            throw CheckpointError(path, "cannot move the written file into place: \(reason)")
        }
    }

    public static func write(_ dict: StateDict, metadata: [String: String] = [:], to path: String) throws {
        try write(dict.keys.map { ($0, dict[$0]!) }, metadata: metadata, to: path)
    }
}

import Foundation

/// A PyTorch `.pt`/`.pth` file in the zip format `torch.save` has written since 1.6:
/// `<prefix>/data.pkl` (the object graph), `<prefix>/data/<key>` (one raw little-endian storage
/// each), `<prefix>/byteorder` and `<prefix>/version`. The prefix folder is the file stem at save
/// time (or `archive/`), so it is found from the location of `data.pkl`, never assumed.
///
/// The legacy (pre-1.6) tar/raw-pickle format is not supported: it is refused with a reason.
public final class TorchCheckpoint: Sendable {
    public let path: String
    /// The archive folder, e.g. `checkpoint-sample/`.
    public let archivePrefix: String
    /// The unpickled object (a state dict, or a dict holding one under `model`/`state_dict`).
    public let root: PickleValue
    private let file: MappedFile

    public init(path: String, limits: Unpickler.Limits = Unpickler.Limits()) throws {
        self.path = path
        let file = try MappedFile(path: path)
        self.file = file
        let magic = try file.withBytes(0..<min(4, file.count)) { Array($0) }
        guard magic == [0x50, 0x4B, 0x03, 0x04] else {
            if magic.first == 0x80 {
                throw CheckpointError(path, "legacy (pre-1.6, non-zip) torch checkpoint; re-save it with a current torch.save")
            }
            throw CheckpointError(path, "not a torch zip checkpoint (no zip signature at the start)")
        }
        let zip = try ZipArchive(file: file)
        let pickles = zip.entries.filter { $0.name == "data.pkl" || $0.name.hasSuffix("/data.pkl") }
        guard pickles.count == 1, let pickle = pickles.first else {
            throw CheckpointError(path, pickles.isEmpty ? "no data.pkl in the archive" : "more than one data.pkl in the archive: \(pickles.map(\.name))")
        }
        let prefix = String(pickle.name.dropLast("data.pkl".count))
        guard !prefix.dropLast().contains("/") else { throw CheckpointError(path, "data.pkl is nested below '\(prefix)'; expected one archive folder") }
        archivePrefix = prefix
        if let order = zip.entry(prefix + "byteorder") {
            let text = try file.withBytes(order.dataRange) { String(decoding: $0, as: UTF8.self) }
            guard text == "little" else { throw CheckpointError(path, "byteorder is '\(text)'; only little-endian checkpoints are supported") }
        }
        guard pickle.dataRange.count <= limits.maximumPickleBytes else {
            throw CheckpointError(path, "data.pkl is \(pickle.dataRange.count) bytes, over the \(limits.maximumPickleBytes)-byte limit")
        }
        let bytes = try file.withBytes(pickle.dataRange) { Array($0) }
        let unpickler = Unpickler(data: bytes, source: path, limits: limits) { key, dtype, count in
            guard let entry = zip.entry(prefix + "data/" + key) else {
                throw CheckpointError(path, "storage '\(key)' has no record \(prefix)data/\(key) in the archive")
            }
            return try TorchStorage(key: key, dtype: dtype, elementCount: count, file: file, byteRange: entry.dataRange)
        }
        root = try unpickler.load()
    }

    /// The tensors of a state dict value, in order. Every value must be a tensor under a string key.
    public func tensors(of value: PickleValue, what: String) throws -> [(String, TorchTensor)] {
        guard let entries = value.dictEntries else { throw CheckpointError(path, "\(what) is a \(value.kind), not a dict of tensors") }
        return try entries.map { entry in
            guard case .string(let key) = entry.key else { throw CheckpointError(path, "\(what) has a \(entry.key.kind) key") }
            guard let tensor = entry.value.tensor else { throw CheckpointError(path, "\(what)['\(key)'] is a \(entry.value.kind), not a tensor") }
            return (key, tensor)
        }
    }
}

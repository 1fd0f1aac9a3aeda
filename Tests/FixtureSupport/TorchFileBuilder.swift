import Foundation

/// Builds small torch-style checkpoints (and deliberately broken ones) for the reader and CLI tests:
/// a stored zip container and protocol-2 pickle opcodes, byte by byte.
public enum TorchFileBuilder {
    public static func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
    public static func le32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xFF) } }

    public struct Member {
        public var name: String
        public var data: [UInt8]
        public var method = 0
        public var flags = 0
        /// Sizes written into the central directory (defaults to data.count).
        public var declaredSize: Int? = nil

        public init(name: String, data: [UInt8], method: Int = 0, flags: Int = 0, declaredSize: Int? = nil) {
            self.name = name
            self.data = data
            self.method = method
            self.flags = flags
            self.declaredSize = declaredSize
        }
    }

    public static func le64(_ v: Int) -> [UInt8] { (0..<8).map { UInt8((v >> (8 * $0)) & 0xFF) } }

    /// A zip of STORED members (CRC left 0; the reader trusts sizes, not CRCs). With `zip64`, every
    /// central-directory size and offset is 0xFFFFFFFF with the real value in a ZIP64 extra field,
    /// and the end record is the ZIP64 one plus its locator (as for archives over 4 GB).
    public static func zip(_ members: [Member], zip64: Bool = false) -> [UInt8] {
        guard zip64 else { return zip32(members) }
        var out: [UInt8] = []
        var central: [UInt8] = []
        for m in members {
            let offset = out.count
            let name = Array(m.name.utf8)
            let size = m.declaredSize ?? m.data.count
            let extra: [UInt8] = le16(1) + le16(16) + le64(size) + le64(size)
            out += [0x50, 0x4B, 0x03, 0x04] + le16(45) + le16(m.flags) + le16(m.method) + le16(0) + le16(0) + le32(0)
            out += le32(0xFFFF_FFFF) + le32(0xFFFF_FFFF) + le16(name.count) + le16(extra.count) + name + extra + m.data
            let centralExtra: [UInt8] = le16(1) + le16(24) + le64(size) + le64(size) + le64(offset)
            central += [0x50, 0x4B, 0x01, 0x02] + le16(45) + le16(45) + le16(m.flags) + le16(m.method) + le16(0) + le16(0) + le32(0)
            central += le32(0xFFFF_FFFF) + le32(0xFFFF_FFFF) + le16(name.count) + le16(centralExtra.count) + le16(0) + le16(0) + le16(0) + le32(0)
            central += le32(0xFFFF_FFFF) + name + centralExtra
        }
        let cdOffset = out.count
        out += central
        let record = out.count
        out += [0x50, 0x4B, 0x06, 0x06] + le64(44) + le16(45) + le16(45) + le32(0) + le32(0)
        out += le64(members.count) + le64(members.count) + le64(central.count) + le64(cdOffset)
        out += [0x50, 0x4B, 0x06, 0x07] + le32(0) + le64(record) + le32(1)
        out += [0x50, 0x4B, 0x05, 0x06] + le16(0) + le16(0) + le16(0xFFFF) + le16(0xFFFF) + le32(0xFFFF_FFFF) + le32(0xFFFF_FFFF) + le16(0)
        return out
    }

    private static func zip32(_ members: [Member]) -> [UInt8] {
        var out: [UInt8] = []
        var central: [UInt8] = []
        for m in members {
            let offset = out.count
            let name = Array(m.name.utf8)
            let size = m.declaredSize ?? m.data.count
            out += [0x50, 0x4B, 0x03, 0x04] + le16(20) + le16(m.flags) + le16(m.method) + le16(0) + le16(0) + le32(0)
            out += le32(size) + le32(size) + le16(name.count) + le16(0) + name + m.data
            central += [0x50, 0x4B, 0x01, 0x02] + le16(20) + le16(20) + le16(m.flags) + le16(m.method) + le16(0) + le16(0) + le32(0)
            central += le32(size) + le32(size) + le16(name.count) + le16(0) + le16(0) + le16(0) + le16(0) + le32(0) + le32(offset) + name
        }
        let cdOffset = out.count
        out += central
        out += [0x50, 0x4B, 0x05, 0x06] + le16(0) + le16(0) + le16(members.count) + le16(members.count) + le32(central.count) + le32(cdOffset) + le16(0)
        return out
    }

    /// A torch-layout archive: `<prefix>data.pkl`, `byteorder`, `data/<key>` storages, `version`.
    public static func checkpoint(pickle: [UInt8], storages: [String: [UInt8]], prefix: String = "archive/", zip64: Bool = false) -> [UInt8] {
        var members = [Member(name: prefix + "data.pkl", data: pickle), Member(name: prefix + "byteorder", data: Array("little".utf8))]
        for key in storages.keys.sorted() { members.append(Member(name: prefix + "data/" + key, data: storages[key]!)) }
        members.append(Member(name: prefix + "version", data: Array("3\n".utf8)))
        return zip(members, zip64: zip64)
    }

    public static func write(_ bytes: [UInt8], name: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fssam-ckpt-tests-\(ProcessInfo.processInfo.processIdentifier)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    public static func f32(_ values: [Float]) -> [UInt8] { values.flatMap { le32(Int($0.bitPattern)) } }

    // MARK: Pickle opcodes

    public enum P {
        public static let proto2: [UInt8] = [0x80, 2]
        public static let stop: [UInt8] = [0x2E]
        public static let mark: [UInt8] = [0x28]
        public static let emptyDict: [UInt8] = [0x7D]
        public static let emptyTuple: [UInt8] = [0x29]
        public static let emptyList: [UInt8] = [0x5D]
        public static let tuple: [UInt8] = [0x74]
        public static let tuple1: [UInt8] = [0x85]
        public static let reduce: [UInt8] = [0x52]
        public static let setItems: [UInt8] = [0x75]
        public static let setItem: [UInt8] = [0x73]
        public static let append: [UInt8] = [0x61]
        public static let newFalse: [UInt8] = [0x89]
        public static let binPersId: [UInt8] = [0x51]
        public static func str(_ s: String) -> [UInt8] { [0x58] + le32(s.utf8.count) + Array(s.utf8) }
        public static func int(_ v: Int) -> [UInt8] { v >= 0 && v < 256 ? [0x4B, UInt8(v)] : [0x4A] + le32(v) }
        public static func global(_ module: String, _ name: String) -> [UInt8] { [0x63] + Array("\(module)\n\(name)\n".utf8) }
        public static func put(_ i: Int) -> [UInt8] { [0x71, UInt8(i)] }
        public static func get(_ i: Int) -> [UInt8] { [0x68, UInt8(i)] }
        public static func ints(_ values: [Int]) -> [UInt8] { mark + values.flatMap(int) + tuple }

        /// `_rebuild_tensor_v2((storage pid), offset, size, stride, False, OrderedDict())`.
        public static func tensor(storage key: String, type: String = "FloatStorage", numel: Int, offset: Int = 0, size: [Int], stride: [Int]) -> [UInt8] {
            var b = global("torch._utils", "_rebuild_tensor_v2")
            b += mark
            b += mark + str("storage") + global("torch", type) + str(key) + str("cpu") + int(numel) + tuple + binPersId
            b += int(offset) + ints(size) + ints(stride) + newFalse
            b += global("collections", "OrderedDict") + emptyTuple + reduce
            b += tuple + reduce
            return b
        }

        /// A dict pickle of `(key, value-opcodes)` pairs.
        public static func dict(_ items: [(String, [UInt8])]) -> [UInt8] {
            emptyDict + mark + items.flatMap { str($0.0) + $0.1 } + setItems
        }
    }
}

/// A value decoded from a checkpoint's pickle. Only data comes out: Python objects are never built,
/// and the few allowed globals are turned into these cases (an `OrderedDict` is a `.dict`, a rebuilt
/// tensor a `.tensor`).
public indirect enum PickleValue: Sendable {
    case none
    case bool(Bool)
    case int(Int64)
    /// An integer beyond 64 bits (LONG1), as little-endian two's-complement bytes.
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    case list([PickleValue])
    /// Dict entries in insertion order (what `OrderedDict` and Python 3.7+ `dict` preserve).
    case dict([PickleDictEntry])
    case tensor(TorchTensor)

    /// The value under string key `key` of a dict.
    public subscript(key: String) -> PickleValue? {
        guard case .dict(let entries) = self else { return nil }
        for entry in entries { if case .string(key) = entry.key { return entry.value } }
        return nil
    }

    public var dictEntries: [PickleDictEntry]? {
        if case .dict(let entries) = self { return entries }
        return nil
    }

    public var tensor: TorchTensor? {
        if case .tensor(let tensor) = self { return tensor }
        return nil
    }

    /// A short description of the kind of value, for error messages.
    public var kind: String {
        switch self {
        case .none: "None"
        case .bool: "bool"
        case .int, .bigInt: "int"
        case .float: "float"
        case .string: "str"
        case .bytes: "bytes"
        case .tuple: "tuple"
        case .list: "list"
        case .dict: "dict"
        case .tensor: "tensor"
        }
    }
}

public struct PickleDictEntry: Sendable {
    public let key: PickleValue
    public let value: PickleValue
}

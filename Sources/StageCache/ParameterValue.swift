/// A typed stage parameter as it enters the cache key. Floats are keyed by their IEEE-754 bits
/// (0.0 and -0.0 are different keys; NaN payloads are kept), maps are sorted by UTF-8 key bytes.
public indirect enum ParameterValue: Sendable, Hashable, CustomStringConvertible {
    case int(Int64)
    case float(Double)
    case string(String)
    case bool(Bool)
    case map([String: ParameterValue])
    case list([ParameterValue])

    public static func == (a: ParameterValue, b: ParameterValue) -> Bool {
        switch (a, b) {
        case let (.int(x), .int(y)): return x == y
        case let (.float(x), .float(y)): return x.bitPattern == y.bitPattern
        case let (.string(x), .string(y)): return x == y
        case let (.bool(x), .bool(y)): return x == y
        case let (.map(x), .map(y)): return x == y
        case let (.list(x), .list(y)): return x == y
        default: return false
        }
    }

    public func hash(into h: inout Hasher) {
        switch self {
        case .int(let v): h.combine(0); h.combine(v)
        case .float(let v): h.combine(1); h.combine(v.bitPattern)
        case .string(let v): h.combine(2); h.combine(v)
        case .bool(let v): h.combine(3); h.combine(v)
        case .map(let v): h.combine(4); h.combine(v)
        case .list(let v): h.combine(5); h.combine(v)
        }
    }

    /// Readable form used by `explain` and the record's parameter summary.
    public var description: String {
        switch self {
        case .int(let v): return String(v)
        case .float(let v):
            return "\(v) (bits 0x\(String(v.bitPattern, radix: 16)))"
        case .string(let v): return "\"\(v)\""
        case .bool(let v): return v ? "true" : "false"
        case .map(let m):
            let items = KeyEncoding.sortedByUTF8(m.keys).map { "\($0): \(m[$0]!)" }
            return "{" + items.joined(separator: ", ") + "}"
        case .list(let l): return "[" + l.map(\.description).joined(separator: ", ") + "]"
        }
    }

    /// Compact form without float bits (record summaries).
    public var summary: String {
        switch self {
        case .float(let v): return "\(v)"
        case .map(let m):
            return "{" + KeyEncoding.sortedByUTF8(m.keys).map { "\($0): \(m[$0]!.summary)" }.joined(separator: ", ") + "}"
        case .list(let l): return "[" + l.map(\.summary).joined(separator: ", ") + "]"
        default: return description
        }
    }
}

extension ParameterValue: ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral, ExpressibleByStringLiteral,
    ExpressibleByBooleanLiteral
{
    public init(integerLiteral v: Int64) { self = .int(v) }
    public init(floatLiteral v: Double) { self = .float(v) }
    public init(stringLiteral v: String) { self = .string(v) }
    public init(booleanLiteral v: Bool) { self = .bool(v) }
}

import StageCache

/// The declared type of a stage parameter, with the values it allows. Ranges and choices live here
/// (not in the stages) so the loader can refuse `imr.iterations: -1` before any work starts.
public enum ParameterType: Sendable, Hashable, CustomStringConvertible {
    case int(min: Int64?, max: Int64?)
    case float(min: Double?, max: Double?)
    case string(allowed: [String]?)
    case bool
    /// A list of strings, each from `allowed` (e.g. export formats).
    case stringList(allowed: [String])

    public var description: String {
        switch self {
        case let .int(min, max): return "int" + Self.range(min.map(String.init), max.map(String.init))
        case let .float(min, max): return "float" + Self.range(min.map { "\($0)" }, max.map { "\($0)" })
        case let .string(allowed): return allowed.map { "string in [\($0.joined(separator: ", "))]" } ?? "string"
        case .bool: return "bool"
        case let .stringList(allowed): return "list of [\(allowed.joined(separator: ", "))]"
        }
    }

    private static func range(_ lo: String?, _ hi: String?) -> String {
        switch (lo, hi) {
        case let (l?, h?): return " in \(l)...\(h)"
        case let (l?, nil): return " ≥ \(l)"
        case let (nil, h?): return " ≤ \(h)"
        case (nil, nil): return ""
        }
    }
}

/// A parameter value before it is typed: what the YAML file or a `--set` gave. `quoted` records a
/// quoted YAML scalar, so `iterations: "3"` is a type error rather than silently an int.
public indirect enum RawParameterValue: Sendable, Hashable {
    case scalar(String, quoted: Bool)
    case list([RawParameterValue])
    case map
}

/// One parameter a stage kind accepts.
public struct ParameterSpec: Sendable, Hashable {
    public let name: String
    public let type: ParameterType
    public let defaultValue: ParameterValue
    /// False for parameters that only change speed (threads, batch size): they stay out of the cache key.
    public let affectsOutput: Bool
    public let summary: String

    public init(_ name: String, _ type: ParameterType, default defaultValue: ParameterValue,
                affectsOutput: Bool = true, _ summary: String) {
        self.name = name
        self.type = type
        self.defaultValue = defaultValue
        self.affectsOutput = affectsOutput
        self.summary = summary
    }

    /// Types and range-checks a raw value. The error string is the reason only; callers add where.
    public func typed(_ raw: RawParameterValue) -> Result<ParameterValue, ParameterValueProblem> {
        switch (type, raw) {
        case let (.int(min, max), .scalar(text, false)):
            guard let v = Int64(text.replacingOccurrences(of: "_", with: "")) else {
                return .failure(.wrongType("expected \(type), got \(Self.show(raw))"))
            }
            if let min, v < min { return .failure(.outOfRange("\(v) is out of range: expected \(type)")) }
            if let max, v > max { return .failure(.outOfRange("\(v) is out of range: expected \(type)")) }
            return .success(.int(v))
        case let (.float(min, max), .scalar(text, false)):
            guard let v = Double(text.replacingOccurrences(of: "_", with: "")), v.isFinite else {
                return .failure(.wrongType("expected \(type), got \(Self.show(raw))"))
            }
            if let min, v < min { return .failure(.outOfRange("\(text) is out of range: expected \(type)")) }
            if let max, v > max { return .failure(.outOfRange("\(text) is out of range: expected \(type)")) }
            return .success(.float(v))
        case (.bool, .scalar("true", false)): return .success(.bool(true))
        case (.bool, .scalar("false", false)): return .success(.bool(false))
        case let (.string(allowed), .scalar(text, _)):
            if let allowed, !allowed.contains(text) {
                return .failure(.outOfRange("\"\(text)\" is not one of \(allowed.joined(separator: ", "))"))
            }
            return .success(.string(text))
        case let (.stringList(allowed), .list(items)):
            var values: [ParameterValue] = []
            for item in items {
                guard case let .scalar(text, _) = item else {
                    return .failure(.wrongType("expected \(type), got a nested value"))
                }
                guard allowed.contains(text) else {
                    return .failure(.outOfRange("\"\(text)\" is not one of \(allowed.joined(separator: ", "))"))
                }
                values.append(.string(text))
            }
            return .success(.list(values))
        default:
            return .failure(.wrongType("expected \(type), got \(Self.show(raw))"))
        }
    }

    private static func show(_ raw: RawParameterValue) -> String {
        switch raw {
        case let .scalar(text, quoted): return quoted ? "the quoted string \"\(text)\"" : "\"\(text)\""
        case .list: return "a list"
        case .map: return "a mapping"
        }
    }
}

/// Why a parameter value was refused; the two kinds are reported as different error kinds.
public enum ParameterValueProblem: Error, Sendable, Hashable {
    case wrongType(String)
    case outOfRange(String)
}

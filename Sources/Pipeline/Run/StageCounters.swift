/// Per stage, how often the executor computed an output and how often it took one from the cache,
/// split by side (support / query) so a test or a summary can say exactly what a run cost.
public struct StageCounters: Sendable, Equatable, CustomStringConvertible {
    public enum Side: String, Sendable { case support, query }

    public private(set) var computed: [String: Int] = [:]
    public private(set) var hits: [String: Int] = [:]

    public init() {}

    static func name(_ stage: String, _ side: Side) -> String { "\(side.rawValue).\(stage)" }

    /// Seconds spent computing each stage (both sides), for the run summary.
    public private(set) var seconds: [String: Double] = [:]

    mutating func countComputed(_ stage: String, _ side: Side, seconds elapsed: Double = 0) {
        computed[Self.name(stage, side), default: 0] += 1
        seconds[stage, default: 0] += elapsed
    }
    mutating func countHit(_ stage: String, _ side: Side) { hits[Self.name(stage, side), default: 0] += 1 }

    /// Computations of `stage` on `side` (0 when it never ran).
    public func computed(_ stage: String, _ side: Side) -> Int { computed[Self.name(stage, side)] ?? 0 }
    public func hits(_ stage: String, _ side: Side) -> Int { hits[Self.name(stage, side)] ?? 0 }

    /// Computations of `stage` on both sides.
    public func computed(_ stage: String) -> Int { computed(stage, .support) + computed(stage, .query) }

    public var totalComputed: Int { computed.values.reduce(0, +) }

    public var description: String {
        let names = Set(computed.keys).union(hits.keys).sorted()
        return names.map { "\($0): computed \(computed[$0] ?? 0), hits \(hits[$0] ?? 0)" }.joined(separator: "\n")
    }
}

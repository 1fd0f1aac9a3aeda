/// Whether a stage's output is kept in the stage cache or recomputed when needed.
public enum PersistenceChoice: String, Sendable, Hashable, CaseIterable {
    case persist
    case recompute
}

/// A stage's persistence policy, split by role: support outputs are reused by every query of an
/// episode (and by every episode sharing the support set), query outputs are usually used once.
/// That is why the two may differ (e.g. DINOv2 features: persist for supports, recompute for queries).
public struct Persistence: Sendable, Hashable, CustomStringConvertible {
    public var support: PersistenceChoice
    public var query: PersistenceChoice

    public init(support: PersistenceChoice, query: PersistenceChoice) {
        self.support = support
        self.query = query
    }

    /// The same choice for supports and queries (the YAML short form `persistence: persist`).
    public init(_ both: PersistenceChoice) {
        self.init(support: both, query: both)
    }

    public var description: String {
        support == query ? support.rawValue : "{support: \(support.rawValue), query: \(query.rawValue)}"
    }
}

import StageCache

/// One stage of one item as `fssam explain` shows it: the key and what it is made of, and what
/// the cache holds for it.
public struct StageExplanation: Sendable {
    public enum Status: String, Sendable {
        /// The stage's outputs are stored.
        case hit
        /// Not persisted by policy, but its output digest is remembered, so downstream keys are
        /// known; its tensors are recomputed only when a downstream stage misses.
        case digestOnly = "digest-only"
        /// Nothing stored: it would be computed, and the stages after it depend on it.
        case miss
    }

    public let stage: String
    public let side: String
    public let key: StageKey
    public let persisted: Bool
    public var status: Status
    public let storedBytes: Int
}

/// What `fssam explain` reports for an item.
public struct ItemExplanation: Sendable {
    public let itemID: String
    public let path: String
    public let runID: String
    /// The item's done-record in this run: nil when not done.
    public let done: DoneRecord?
    public let stages: [StageExplanation]
    /// The first stage that misses (later stages cannot be keyed without its output), if any.
    public let stoppedAt: String?
}

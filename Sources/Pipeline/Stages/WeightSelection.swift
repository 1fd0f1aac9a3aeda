/// Which checkpoint tensors a stage reads, by name in the combined namespace of a converted FSSAM
/// checkpoint (`sam2.<SAM 2 key>`, `dino.<DINOv2 key>`, see `ModelFamily.routedPrefix`), so one
/// list can name weights of both networks.
///
/// An entry ending in `.` is a module prefix (`sam2.memory_attention.` selects the whole module);
/// any other entry is one exact key (`sam2.no_obj_ptr`), so a key never selects a sibling that
/// merely shares its spelling. `excluding` removes keys the prefixes would otherwise select
/// (`sam_mask_decoder.conv_s0.` is applied by `sam2_features`, not by the decoder stages).
public struct WeightSelection: Sendable, Hashable {
    public let including: [String]
    public let excluding: [String]

    public init(_ including: [String], excluding: [String] = []) {
        self.including = including
        self.excluding = excluding
    }

    /// A stage that reads no weights (decode, priors, imr, export): its key holds no weights digest.
    public static let none = WeightSelection([])

    public var isEmpty: Bool { including.isEmpty }

    public func contains(_ key: String) -> Bool {
        including.contains { Self.matches(key, $0) } && !excluding.contains { Self.matches(key, $0) }
    }

    static func matches(_ key: String, _ entry: String) -> Bool {
        entry.hasSuffix(".") ? key.hasPrefix(entry) : key == entry
    }
}

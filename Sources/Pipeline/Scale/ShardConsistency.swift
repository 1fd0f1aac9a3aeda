/// Checks that complete shard parts are parts of one run: same pipeline, parameters, supports,
/// weights, run id and shard count, and each `run.json` says it is the shard its folder names.
/// A stale part (from an earlier run with other parameters) would otherwise slip foreign masks
/// into the merged result.
public enum ShardConsistency {
    /// Throws naming the two shards and the first field that differs.
    public static func check(_ parts: [ShardPart]) throws {
        guard let first = parts.first, let reference = first.manifest else { return }
        for part in parts {
            guard let manifest = part.manifest else {
                throw PipelineError(part.directory, "shard \(part.shard.partName) has no finished run (no run.json)")
            }
            guard manifest.shard == part.shard else {
                throw PipelineError(part.directory + "/run.json",
                                    "says it is shard \(manifest.shard.map(\.partName) ?? "none (an unsharded run)"), "
                                    + "but its folder is \(part.shard.partName)")
            }
            // The descriptive fields first: the run id differs whenever one of them does, and the
            // field that differs is the useful thing to name.
            let differences: [(String, String?)] = [
                ("pipeline", manifest.pipeline == reference.pipeline ? nil : "\(reference.pipeline) vs \(manifest.pipeline)"),
                ("parameters", difference(reference.parameters, manifest.parameters)),
                ("supports", manifest.supports == reference.supports ? nil
                    : "\(reference.supports.count) vs \(manifest.supports.count) support(s), digests differ"),
                ("weights", difference(reference.weights, manifest.weights)),
                ("run_id", manifest.runID == reference.runID ? nil : "\(reference.runID) vs \(manifest.runID)"),
            ]
            if let (field, why) = differences.first(where: { $0.1 != nil }) {
                throw PipelineError("shards \(first.shard.partName) and \(part.shard.partName)",
                                    "differ in \(field) (\(why!)): they are not parts of one run; "
                                    + "rerun the stale shard(s) with the same options, or merge the runs separately")
            }
        }
    }

    /// The first key whose value differs, as `key: a vs b`; nil when equal.
    static func difference(_ a: [String: String], _ b: [String: String]) -> String? {
        for key in Set(a.keys).union(b.keys).sorted(by: ItemOrder.precedes) where a[key] != b[key] {
            return "\(key): \(a[key] ?? "absent") vs \(b[key] ?? "absent")"
        }
        return nil
    }
}

import StageCache

/// `run.json`: what a finished run was — the identity of its inputs and model, and its totals —
/// in canonical JSON with no timestamps, so two runs over the same inputs write the same bytes
/// however they were scheduled or interrupted. Written last: its presence means the run (or the
/// shard part) completed. `fssam merge` compares these fields to refuse mixing different runs.
public struct RunManifest: Sendable, Equatable {
    public var runID: String
    public var pipeline: String
    /// `stage.param` → value text, every output-affecting parameter (defaults included).
    public var parameters: [String: String]
    /// Support image digests in model order, then the digest of all their labels.
    public var supportImages: [String]
    public var supportMasks: String
    /// Stage → weights digest (hex).
    public var weights: [String: String]
    /// Items that have a mask (computed now or by an earlier, interrupted run), and items that failed.
    public var ok: Int
    public var failed: Int
    public var shard: (index: Int, count: Int)?

    public static func == (a: RunManifest, b: RunManifest) -> Bool {
        a.runID == b.runID && a.pipeline == b.pipeline && a.parameters == b.parameters && a.supportImages == b.supportImages
            && a.supportMasks == b.supportMasks && a.weights == b.weights && a.ok == b.ok && a.failed == b.failed
            && a.shard?.index == b.shard?.index && a.shard?.count == b.shard?.count
    }

    public func json() -> String {
        func sortedObject(_ map: [String: String]) -> String {
            CanonicalJSON.object(map.keys.sorted(by: ItemOrder.precedes).map { ($0, CanonicalJSON.string(map[$0]!)) })
        }
        var fields: [(String, String)] = [
            ("run_id", CanonicalJSON.string(runID)),
            ("pipeline", CanonicalJSON.string(pipeline)),
            ("parameters", sortedObject(parameters)),
            ("supports", CanonicalJSON.object([
                ("images", CanonicalJSON.array(supportImages.map(CanonicalJSON.string))),
                ("masks", CanonicalJSON.string(supportMasks)),
            ])),
            ("weights", sortedObject(weights)),
            ("items", CanonicalJSON.object([("ok", String(ok)), ("failed", String(failed))])),
        ]
        if let shard {
            fields.append(("shard", CanonicalJSON.object([("index", String(shard.index)), ("count", String(shard.count))])))
        }
        return CanonicalJSON.object(fields) + "\n"
    }

    public func write(to directory: String) throws {
        try AtomicFile.write(Array(json().utf8), to: directory + "/run.json")
    }
}

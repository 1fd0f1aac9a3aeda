import Foundation
import UntrustedInput

/// `run.json`: what a finished run was — its id, pipeline, parameters, supports and weights — and
/// how its items went. Canonical (fixed key order, no timestamps), so two runs of the same work
/// write the same bytes and `fssam merge` can compare shards field by field.
///
/// It is written last, after the masks and reports: a folder with a `run.json` holds a finished
/// run, one without is running, was killed, or never started.
public struct RunManifest: Sendable, Equatable {
    public struct Support: Sendable, Equatable {
        /// Content digests (hex) of the support's model-size image and label.
        public var image: String
        public var mask: String

        public init(image: String, mask: String) {
            self.image = image
            self.mask = mask
        }
    }

    /// Items with a mask (computed by this run or by an earlier, interrupted one) and items that
    /// failed. How the work was split between runs is left out, so a resumed run writes the same
    /// `run.json` as an uninterrupted one.
    public struct Items: Sendable, Equatable {
        public var ok: Int
        public var failed: Int

        public init(ok: Int, failed: Int) {
            self.ok = ok
            self.failed = failed
        }
    }

    public var runID: String
    public var pipeline: String
    /// `stage.param` → value text, the output-affecting parameters.
    public var parameters: [String: String]
    public var supports: [Support]
    /// Stage → digest (hex) of the weights it uses.
    public var weights: [String: String]
    public var items: Items
    public var shard: ShardSelection?

    public init(runID: String, pipeline: String, parameters: [String: String], supports: [Support], weights: [String: String],
                items: Items, shard: ShardSelection?) {
        self.runID = runID
        self.pipeline = pipeline
        self.parameters = parameters
        self.supports = supports
        self.weights = weights
        self.items = items
        self.shard = shard
    }

    /// The manifest of a run `executor` has just finished.
    public init(executor: RunExecutor, summary: RunSummary, pipeline: String = "fssam", shard: ShardSelection?) {
        let stages = executor.stages
        self.init(runID: executor.runID, pipeline: pipeline, parameters: executor.configuration.parameters.outputAffectingText,
                  supports: zip(stages.supportImageDigests, stages.supportMaskDigests).map { Support(image: $0.hex, mask: $1.hex) },
                  weights: executor.resolver.weights.digests.mapValues(\.hex),
                  items: Items(ok: summary.succeeded + summary.skippedAsDone, failed: summary.failed), shard: shard)
    }

    public static let fileName = "run.json"

    public func render() -> [UInt8] {
        func sortedObject(_ d: [String: String]) -> String {
            CanonicalJSON.object(d.sorted { ItemOrder.precedes($0.key, $1.key) }.map { ($0.key, CanonicalJSON.string($0.value)) })
        }
        var fields: [(String, String)] = [
            ("run_id", CanonicalJSON.string(runID)),
            ("pipeline", CanonicalJSON.string(pipeline)),
            ("parameters", sortedObject(parameters)),
            ("supports", CanonicalJSON.array(supports.map {
                CanonicalJSON.object([("image", CanonicalJSON.string($0.image)), ("mask", CanonicalJSON.string($0.mask))])
            })),
            ("weights", sortedObject(weights)),
            ("items", CanonicalJSON.object([("ok", String(items.ok)), ("failed", String(items.failed))])),
        ]
        if let shard {
            fields.append(("shard", CanonicalJSON.object([("index", String(shard.index)), ("count", String(shard.count))])))
        }
        return Array((CanonicalJSON.object(fields) + "\n").utf8)
    }

    public func write(toDirectory directory: String) throws {
        try AtomicFile.write(render(), to: directory + "/" + Self.fileName)
    }

    /// Reads a `run.json`; a field missing or of the wrong type is an error naming the file and the field.
    public static func read(_ path: String) throws -> RunManifest {
        let bytes: [UInt8]
        do { bytes = try RegularFile.readAll(path, limit: InputLimits.maxTextFileBytes, what: "run manifest") } catch let error as FileAccessError {
            throw PipelineError(path, error.reason)
        }
        // Foundation's JSON parser recurses per level: depth is checked on the raw text first.
        if let problem = JSONNesting.problem(in: bytes) { throw PipelineError(path, problem) }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] else {
            throw PipelineError(path, "not a JSON object")
        }
        func field<T>(_ name: String, _ type: T.Type) throws -> T {
            guard let value = object[name] as? T else { throw PipelineError(path, "field \"\(name)\" is missing or not a \(T.self)") }
            return value
        }
        func int(_ d: [String: Any], _ name: String, _ parent: String) throws -> Int {
            guard let n = d[name] as? Int else {
                throw PipelineError(path, "field \"\(parent).\(name)\" is missing or not an integer")
            }
            return n
        }
        let supports = try field("supports", [Any].self).enumerated().map { i, value -> Support in
            guard let d = value as? [String: Any], let image = d["image"] as? String, let mask = d["mask"] as? String else {
                throw PipelineError(path, "supports[\(i)] must be {\"image\": digest, \"mask\": digest}")
            }
            return Support(image: image, mask: mask)
        }
        let items = try field("items", [String: Any].self)
        var shard: ShardSelection?
        if let s = object["shard"] {
            guard let d = s as? [String: Any] else { throw PipelineError(path, "field \"shard\" is not an object") }
            do { shard = try ShardSelection(index: try int(d, "index", "shard"), count: try int(d, "count", "shard")) } catch let e as PipelineError {
                throw e.subject == path ? e : PipelineError(path, "field \"shard\": \(e.reason)")
            }
        }
        return RunManifest(runID: try field("run_id", String.self), pipeline: try field("pipeline", String.self),
                           parameters: try field("parameters", [String: String].self), supports: supports,
                           weights: try field("weights", [String: String].self),
                           items: Items(ok: try int(items, "ok", "items"), failed: try int(items, "failed", "items")),
                           shard: shard)
    }
}

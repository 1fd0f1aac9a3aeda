import Foundation

/// One shard's output folder, `OUT/shards/<I>-of-<N>/`, holding what an unsharded run writes to
/// OUT, and what state it is in.
public struct ShardPart: Sendable {
    public enum State: String, Sendable {
        /// `run.json` present, every item ok (or skipped as done).
        case done
        /// `run.json` present, some items failed (they are in its `errors.jsonl`); the part is
        /// complete — a rerun retries only those items, which helps only with transient causes.
        case failed
        /// No `run.json` (or an unreadable one): never started, still running, or killed.
        case missing
        /// A `run.json`, but the files disagree with it (a mask deleted or changed, report lines
        /// lost): not mergeable; a resubmit re-exports what is missing from its cache.
        case damaged
    }

    public let shard: ShardSelection
    public let directory: String
    public let state: State
    public let manifest: RunManifest?
    /// Why a part is missing (no folder, no run.json, an unreadable run.json).
    public let detail: String?

    /// Reads the part's state; never throws — a broken `run.json` makes the part missing, with why.
    public init(shard: ShardSelection, directory: String) {
        self.shard = shard
        self.directory = directory
        let manifestPath = directory + "/" + RunManifest.fileName
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) || !isDirectory.boolValue {
            (state, manifest, detail) = (.missing, nil, "no folder \(directory) (not started)")
        } else if !FileManager.default.fileExists(atPath: manifestPath) {
            (state, manifest, detail) = (.missing, nil, "no run.json (running, killed or not started)")
        } else {
            do {
                let manifest = try RunManifest.read(manifestPath)
                if let problem = ShardPartCheck(directory: directory, manifest: manifest).problem() {
                    (state, self.manifest, detail) = (.damaged, manifest, problem)
                } else {
                    (state, self.manifest, detail) = (manifest.items.failed > 0 ? .failed : .done, manifest, nil)
                }
            } catch {
                (state, manifest, detail) = (.missing, nil, "unreadable run.json: \(error)")
            }
        }
    }
}

/// The shard parts under `OUT/shards/`: which N the run was split into and each part's state.
public struct ShardSet: Sendable {
    public let outputDirectory: String
    public let count: Int
    /// One per index 0..<count, missing ones included.
    public let parts: [ShardPart]

    public static func shardsDirectory(of out: String) -> String { out + "/shards" }

    /// Finds the shard count from the part folders (`I-of-N`), or takes `count` when given. Parts
    /// of two different counts are two different splits: refused, naming them, as merging or
    /// resubmitting against the wrong one would lose items.
    public init(outputDirectory out: String, count given: Int? = nil) throws {
        let root = Self.shardsDirectory(of: out)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        var found: [(name: String, shard: ShardSelection)] = []
        for name in names {
            // Only `<I>-of-<N>` names are parts; one that looks like a part but is not valid is refused, not skipped.
            let fields = name.split(separator: "-", omittingEmptySubsequences: false)
            guard fields.count == 3, fields[1] == "of", fields[0].allSatisfy(\.isNumber), fields[2].allSatisfy(\.isNumber) else { continue }
            guard let i = Int(fields[0]), let n = Int(fields[2]), String(i) == fields[0], String(n) == fields[2] else {
                throw PipelineError(root + "/" + name, "not a valid shard part name (<I>-of-<N>, no leading zeros, "
                                    + "N at most \(ShardSelection.maximumCount)); remove it")
            }
            do { found.append((name, try ShardSelection(index: i, count: n))) } catch let e as PipelineError {
                throw PipelineError(root + "/" + name, "not a valid shard part: \(e.reason); remove it")
            }
        }
        let counts = Set(found.map(\.shard.count))
        if counts.count > 1 || (given != nil && !counts.isEmpty && counts != [given!]) {
            let names = found.map(\.name).sorted().joined(separator: ", ")
            throw PipelineError(root, "parts of different shard counts (\(names)"
                                + (given.map { "; expected \($0)" } ?? "") + "): they are different splits of the input; "
                                + "remove the stale ones (or merge into another --out)")
        }
        guard let count = given ?? counts.first else {
            throw PipelineError(root, "no shard parts (<I>-of-<N> folders) here; pass --shard-count N to list them all as missing")
        }
        guard ShardSelection.countRange.contains(count) else {
            throw PipelineError("--shard-count \(count)", "the shard count must be 1…\(ShardSelection.maximumCount)")
        }
        outputDirectory = out
        self.count = count
        parts = (0..<count).map { i in
            let shard = try! ShardSelection(index: i, count: count)
            return ShardPart(shard: shard, directory: root + "/" + shard.partName)
        }
    }

    /// Indices to submit again: the parts without a finished run, and those whose files disagree with it.
    public var missing: [Int] { parts.filter { $0.state == .missing || $0.state == .damaged }.map(\.shard.index) }

    public var isComplete: Bool { missing.isEmpty }

    /// A Slurm `--array=` list: `1,3,5-7` (runs of three or more as ranges).
    public static func arrayList(_ indices: [Int]) -> String {
        var out: [String] = []
        var i = 0
        let sorted = indices.sorted()
        while i < sorted.count {
            var j = i
            while j + 1 < sorted.count && sorted[j + 1] == sorted[j] + 1 { j += 1 }
            if j - i >= 2 { out.append("\(sorted[i])-\(sorted[j])") } else { out += sorted[i...j].map(String.init) }
            i = j + 1
        }
        return out.joined(separator: ",")
    }
}

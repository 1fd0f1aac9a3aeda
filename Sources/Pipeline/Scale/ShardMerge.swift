import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `fssam merge`: the shard parts under `OUT/shards/` combined into the one result set an
/// unsharded run writes to OUT — masks linked (or copied), `results.jsonl`, `errors.jsonl` and
/// `predictions.json` k-way merged from the sorted parts, `run.json` without the shard and with
/// the summed item counts.
///
/// Refuses, before writing anything, an incomplete set (naming the indices to resubmit) and parts
/// of different runs (naming the shards and the field). `run.json` is written last, so OUT holds
/// a merged result exactly when its `run.json` has no `shard` field.
public enum ShardMerge {
    public struct Report: Sendable {
        public let count: Int
        public let manifest: RunManifest
        public let results: Int
        public let errors: Int
        /// Entries of `predictions.json`; nil when the parts have none.
        public let predictions: Int?
        public let masksLinked: Int
        public let masksCopied: Int
    }

    /// The files every part holds, merged by their item id field.
    static let lineFiles: [(name: String, keyField: String, oneShardPerKey: Bool)] = [
        ("results.jsonl", "id", true), ("errors.jsonl", "id", false),
    ]
    static let predictionsFile = "predictions.json"

    public static func merge(outputDirectory out: String, count: Int? = nil) throws -> Report {
        // One writer of OUT at a time; a killed merge's temporary files are removed here.
        let folder = try OutputFolder(out)
        try folder.removeStaleTemporaries()
        let set = try ShardSet(outputDirectory: out, count: count)
        let damaged = set.parts.filter { $0.state == .damaged }
        guard damaged.isEmpty else {
            let list = damaged.map { "\($0.shard.partName): \($0.detail ?? "damaged")" }.joined(separator: "; ")
            throw PipelineError(out, "\(damaged.count) shard part(s) do not hold what their run.json says (\(list)); "
                                + "resubmit --array=\(ShardSet.arrayList(damaged.map(\.shard.index))) (the rerun re-exports from "
                                + "its cache), then merge again")
        }
        let missing = set.parts.filter { $0.state == .missing }
        guard missing.isEmpty else {
            let list = missing.map { "\($0.shard.partName): \($0.detail ?? "missing")" }.joined(separator: "; ")
            throw PipelineError(out, "incomplete: \(missing.count) of \(set.count) shard(s) not finished (\(list)); "
                                + "resubmit --array=\(ShardSet.arrayList(set.missing)), then merge again")
        }
        try ShardConsistency.check(set.parts)
        for part in set.parts {
            for file in lineFiles.map(\.name) where !FileManager.default.fileExists(atPath: part.directory + "/" + file) {
                throw PipelineError(part.directory, "has run.json but no \(file): not written by fssam run?")
            }
        }
        let withPredictions = set.parts.filter { FileManager.default.fileExists(atPath: $0.directory + "/" + predictionsFile) }
        if !withPredictions.isEmpty && withPredictions.count != set.count {
            let without = set.parts.filter { p in !withPredictions.contains { $0.shard == p.shard } }.map(\.shard.partName)
            throw PipelineError(out, "\(predictionsFile) is in some shards but not in \(without.joined(separator: ", ")): "
                                + "parts written by different fssam versions?")
        }

        // OUT becomes the parts' run's, as an unsharded run's folder is: another run's results there are refused.
        var owner = OutputFolder.recordedOwner(of: set.parts[0].directory)
        owner?.finished = false
        if let owner { try folder.claim(for: owner, force: false) }

        // An old merged run.json would claim completeness while the new merge is half done.
        let manifestPath = out + "/" + RunManifest.fileName
        if unlink(manifestPath) != 0 && errno != ENOENT {
            throw PipelineError(manifestPath, "cannot remove the previous run.json: \(String(cString: strerror(errno)))")
        }

        var linker = MaskTreeLinker(outputDirectory: out)
        for part in set.parts { try linker.place(partDirectory: part.directory, shard: part.shard.partName) }

        var counts: [String: Int] = [:]
        for file in lineFiles {
            let output = try AtomicFileWriter(path: out + "/" + file.name)
            counts[file.name] = try SortedLinesMerge(keyField: file.keyField, isJSONArray: false, keysBelongToOneShard: file.oneShardPerKey)
                .merge(set.parts.map { ($0.directory + "/" + file.name, $0.shard.partName) }, into: output)
            try output.commit()
        }
        var predictions: Int?
        if !withPredictions.isEmpty {
            let output = try AtomicFileWriter(path: out + "/" + predictionsFile)
            predictions = try SortedLinesMerge(keyField: "image_id", isJSONArray: true, keysBelongToOneShard: true)
                .merge(set.parts.map { ($0.directory + "/" + predictionsFile, $0.shard.partName) }, into: output)
            try output.commit()
        }

        var manifest = set.parts[0].manifest!
        manifest.shard = nil
        manifest.items = RunManifest.Items(ok: set.parts.reduce(0) { $0 + $1.manifest!.items.ok },
                                           failed: set.parts.reduce(0) { $0 + $1.manifest!.items.failed })
        try manifest.write(toDirectory: out)
        if let owner { try folder.markFinished(owner) }
        return Report(count: set.count, manifest: manifest, results: counts["results.jsonl"]!, errors: counts["errors.jsonl"]!,
                      predictions: predictions, masksLinked: linker.linked, masksCopied: linker.copied)
    }
}

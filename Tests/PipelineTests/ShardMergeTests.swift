import Foundation
import XCTest
@testable import Pipeline

/// `fssam status` / `fssam merge` on shard parts written with the same writers `fssam run` uses:
/// the merge is byte-identical to the unsharded files, and incomplete or inconsistent sets are
/// refused, naming what is wrong.
final class ShardMergeTests: XCTestCase {
    var out: String!

    override func setUpWithError() throws {
        out = FileManager.default.temporaryDirectory.appendingPathComponent("fssam-merge-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: out) }

    // (Filters use the shard, not `mine.contains`: Swift's String == equates "é" and "e\u{301}",
    // which are two items here.)
    // Ids that sort differently as bytes than as Swift strings or by escaped spelling.
    let ids = (0..<40).map { "img-\($0).png" } + ["a/b.png", "a-b.png", "é.png", "e\u{301}.png", "quote\"d.png", "tab\tname.png", "z/y/x.png"]

    func manifest(_ shard: ShardSelection?, ok: Int, failed: Int, parameters: [String: String] = ["imr.iterations": "3"],
                  weights: [String: String] = ["scma": "ab"], runID: String = "run-1") -> RunManifest {
        RunManifest(runID: runID, pipeline: "fssam", parameters: parameters,
                    supports: [RunManifest.Support(image: "11", mask: "22")], weights: weights,
                    items: RunManifest.Items(ok: ok, failed: failed), shard: shard)
    }

    func results(_ ids: [String]) -> [ResultsLine] {
        ids.enumerated().map { ResultsLine(id: $1, status: "computed", maskPNG: maskBytes($1), area: $0 * 3,
                                           seconds: 0.5, cacheHits: ["priors": 1]) }
    }

    /// The stand-in mask file of item `id` (results lines record its SHA-256, which merge checks).
    func maskBytes(_ id: String) -> [UInt8] { Array("mask of \(id)".utf8) }

    func errors(_ ids: [String]) -> [ErrorLine] {
        ids.filter { $0.hasPrefix("img-1") }.map { ErrorLine(id: $0, path: "/q/" + $0, stage: "decode", reason: "bad") }
            // Manifest lines without an id are reported under the manifest's path: several per file.
            + (1...6).map { ErrorLine(id: "/m/list.jsonl", path: "/m/list.jsonl", stage: "input", reason: "line \($0): not valid JSON") }
    }

    func predictions(_ ids: [String]) -> [Prediction] {
        var out: [Prediction] = []
        for id in ids {
            for k in 0..<(id.count % 2 + 1) {
                let mask: [UInt8] = (0..<12).map { ($0 + id.count + k) % 3 == 0 ? 1 : 0 }
                out.append(Prediction(itemID: id, imageID: .name(id), categoryID: 1 + k,
                                      segmentation: COCORLE(mask: mask, height: 3, width: 4), score: 0.25 * Double(k + 1)))
            }
        }
        return out
    }

    /// Writes `count` parts as `fssam run --shard` would, plus the unsharded files under `reference`.
    func writeParts(count: Int, skip: Set<Int> = [], withPredictions: Bool = true) throws {
        let allErrors = errors(ids)
        for i in 0..<count where !skip.contains(i) {
            let shard = try ShardSelection(index: i, count: count)
            let dir = shard.partDirectory(in: out)
            let mine = ids.filter { shard.contains(itemID: $0) }
            let myErrors = allErrors.enumerated().filter { n, e in
                e.id == "/m/list.jsonl" ? n % count == i : shard.contains(itemID: e.id)
            }.map(\.1)
            // As RunSummary.writeReports: sorted by id.
            let myResults = results(ids).filter { shard.contains(itemID: $0.id) }.sorted { ItemOrder.precedes($0.id, $1.id) }
            try AtomicFile.write(Array(try myResults.map { try $0.json() + "\n" }.joined().utf8), to: dir + "/results.jsonl")
            try JSONLinesWriter.write(myErrors, to: dir + "/errors.jsonl")
            if withPredictions { try PredictionsWriter.write(predictions(mine), to: dir + "/predictions.json") }
            for id in mine { try AtomicFile.write(maskBytes(id), to: try MaskFileLayout(outputDirectory: dir).maskPath(forItem: id)) }
            try manifest(shard, ok: mine.count, failed: myErrors.count).write(toDirectory: dir)
        }
        let reference = out + "/reference"
        try AtomicFile.write(Array(try results(ids).sorted { ItemOrder.precedes($0.id, $1.id) }.map { try $0.json() + "\n" }.joined().utf8),
                             to: reference + "/results.jsonl")
        try JSONLinesWriter.write(allErrors, to: reference + "/errors.jsonl")
        try PredictionsWriter.write(predictions(ids), to: reference + "/predictions.json")
        try manifest(nil, ok: ids.count, failed: allErrors.count).write(toDirectory: reference)
    }

    func bytes(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

    func lineCount(_ path: String) throws -> Int { try bytes(path).filter { $0 == 10 }.count }

    func testAPartWhoseFilesDisagreeWithItsRunJSONIsDamagedAndNotMerged() throws {
        try writeParts(count: 3)
        let part0 = try ShardSelection(index: 0, count: 3).partDirectory(in: out)
        let part2 = try ShardSelection(index: 2, count: 3).partDirectory(in: out)
        XCTAssertEqual(try ShardSet(outputDirectory: out).parts.map(\.state), [.failed, .failed, .failed])

        // A mask deleted from part 0, the last results line lost from part 2.
        let victim = try XCTUnwrap(ids.first { try! ShardSelection(index: 0, count: 3).contains(itemID: $0) })
        let victimPath = try MaskFileLayout(outputDirectory: part0).maskPath(forItem: victim)
        XCTAssertEqual(unlink(victimPath), 0)
        var lines = String(decoding: try bytes(part2 + "/results.jsonl"), as: UTF8.self).split(separator: "\n")
        lines.removeLast()
        try AtomicFile.write(Array(lines.map { $0 + "\n" }.joined().utf8), to: part2 + "/results.jsonl")

        let set = try ShardSet(outputDirectory: out)
        XCTAssertEqual(set.parts.map(\.state), [.damaged, .failed, .damaged])
        XCTAssertEqual(set.missing, [0, 2], "damaged parts are listed to resubmit")
        XCTAssertTrue(set.parts[0].detail!.contains("is missing (item \(victim))"), set.parts[0].detail!)
        XCTAssertTrue(set.parts[2].detail!.contains("results.jsonl has \(lines.count) line(s), run.json says \(lines.count + 1)"),
                      set.parts[2].detail!)
        XCTAssertThrowsError(try ShardMerge.merge(outputDirectory: out)) { error in
            XCTAssertTrue("\(error)".contains("0-of-3") && "\(error)".contains("2-of-3"), "\(error)")
            XCTAssertTrue("\(error)".contains("resubmit --array=0,2"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/run.json"), "nothing merged")

        // A changed mask is caught by its digest.
        try writeParts(count: 3)
        try AtomicFile.write(Array("another mask".utf8), to: victimPath)
        XCTAssertEqual(try ShardSet(outputDirectory: out).parts[0].state, .damaged)
    }

    func testAMergeRemovesWhatAKilledMergeLeft() throws {
        try writeParts(count: 2)
        let debris = [out + "/masks/.fssam-tmp-99999-1-img-0.png.png", out + "/.fssam-tmp-99999-2-results.jsonl",
                      out + "/.merge-99999-3.tmp"]
        for file in debris { try AtomicFile.write([1], to: file) }
        _ = try ShardMerge.merge(outputDirectory: out)
        for file in debris { XCTAssertFalse(FileManager.default.fileExists(atPath: file), file) }
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/run.json"))
    }

    func testCleaningAFolderOfManyFilesReadsEveryNameSafely() throws {
        // A merge of 20,000 masks crashed here (SIGSEGV): each readdir record was copied whole as a
        // `dirent`, reading past the end of readdir's buffer when the last record was short.
        for folder in 0..<4 {
            let directory = out + "/masks/d\(folder)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for n in 0..<3000 { FileManager.default.createFile(atPath: directory + "/m\(n).png.png", contents: Data([1])) }
        }
        try AtomicFile.write([1], to: out + "/masks/d3/.fssam-tmp-99999-1-m7.png.png")
        try OutputFolder(out).removeStaleTemporaries()
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/masks/d3/.fssam-tmp-99999-1-m7.png.png"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/masks/d3/m2999.png.png"))
    }

    func testAnInvalidPartNameIsRefusedNotListedWithoutEnd() throws {
        try FileManager.default.createDirectory(atPath: out + "/shards/0-of-100000000", withIntermediateDirectories: true)
        let started = Date()
        XCTAssertThrowsError(try ShardSet(outputDirectory: out)) { error in
            XCTAssertTrue("\(error)".contains("0-of-100000000") && "\(error)".contains("1…100000"), "\(error)")
        }
        XCTAssertThrowsError(try ShardSet(outputDirectory: out + "/elsewhere", count: 100_000_000))
        XCTAssertLessThan(Date().timeIntervalSince(started), 1)
    }

    func testMergeEqualsTheUnshardedFilesAndLinksMasks() throws {
        for count in [1, 3, 7] {
            try setUpWithError()
            try writeParts(count: count)
            let report = try ShardMerge.merge(outputDirectory: out)
            XCTAssertEqual(report.count, count)
            for file in ["results.jsonl", "errors.jsonl", "predictions.json", "run.json"] {
                XCTAssertEqual(try bytes(out + "/" + file), try bytes(out + "/reference/" + file), "\(file), N=\(count)")
            }
            XCTAssertEqual(report.results, ids.count)
            XCTAssertEqual(report.masksLinked, ids.count)
            XCTAssertEqual(report.masksCopied, 0)
            for id in ids {
                let merged = try MaskFileLayout(outputDirectory: out).maskPath(forItem: id)
                XCTAssertEqual(try bytes(merged), Array("mask of \(id)".utf8))
                let owner = try ShardSelection(index: ShardSelection.shard(of: Array(id.utf8), count: count), count: count)
                let source = try MaskFileLayout(outputDirectory: owner.partDirectory(in: out)).maskPath(forItem: id)
                let a = try FileManager.default.attributesOfItem(atPath: merged), b = try FileManager.default.attributesOfItem(atPath: source)
                XCTAssertEqual(a[.systemFileNumber] as? Int, b[.systemFileNumber] as? Int, "hard link, not a copy: \(id)")
            }
            // Merging again gives the same result (a resubmitted merge job).
            _ = try ShardMerge.merge(outputDirectory: out)
            XCTAssertEqual(try bytes(out + "/results.jsonl"), try bytes(out + "/reference/results.jsonl"))
            try tearDownWithError()
        }
    }

    func testStatusClassifiesDoneFailedAndMissingAndListsTheIndicesToResubmit() throws {
        try writeParts(count: 6, skip: [1, 3, 4])
        // 3: started but not finished (killed): a folder without run.json. 4: a truncated run.json.
        try AtomicFile.write([], to: try ShardSelection(index: 3, count: 6).partDirectory(in: out) + "/results.jsonl")
        try AtomicFile.write(Array("{\"run_id\":".utf8), to: try ShardSelection(index: 4, count: 6).partDirectory(in: out) + "/run.json")
        // 5 finished with failed items (as written); 0 and 2 finished clean: no error lines, run.json saying so.
        for i in [0, 2] {
            let shard = try ShardSelection(index: i, count: 6), dir = shard.partDirectory(in: out)
            try AtomicFile.write([], to: dir + "/errors.jsonl")
            try manifest(shard, ok: try lineCount(dir + "/results.jsonl"), failed: 0).write(toDirectory: dir)
        }

        let set = try ShardSet(outputDirectory: out)
        XCTAssertEqual(set.count, 6)
        XCTAssertEqual(set.parts.map(\.state), [.done, .missing, .done, .missing, .missing, .failed])
        XCTAssertEqual(set.missing, [1, 3, 4])
        XCTAssertTrue(set.parts[1].detail!.contains("no folder"), set.parts[1].detail!)
        XCTAssertEqual(set.parts[3].detail, "no run.json (running, killed or not started)")
        XCTAssertTrue(set.parts[4].detail!.hasPrefix("unreadable run.json"), set.parts[4].detail!)
        XCTAssertEqual(ShardSet.arrayList(set.missing), "1,3,4", "runs of two stay a list")
        XCTAssertEqual(ShardSet.arrayList([7, 1, 3, 4, 5, 9, 10]), "1,3-5,7,9,10")
        XCTAssertEqual(try ShardSet(outputDirectory: out, count: 6).missing, [1, 3, 4])

        XCTAssertThrowsError(try ShardMerge.merge(outputDirectory: out)) { error in
            XCTAssertTrue("\(error)".contains("incomplete: 3 of 6 shard(s) not finished"), "\(error)")
            XCTAssertTrue("\(error)".contains("resubmit --array=1,3,4"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/run.json"), "nothing merged")
        XCTAssertThrowsError(try ShardSet(outputDirectory: out + "/nothing-here")) { error in
            XCTAssertTrue("\(error)".contains("no shard parts"), "\(error)")
        }
        XCTAssertEqual(try ShardSet(outputDirectory: out + "/nothing-here", count: 2).missing, [0, 1])
    }

    func testMergeRefusesPartsOfDifferentRunsNamingTheShardsAndTheField() throws {
        typealias Change = (inout RunManifest) -> Void
        let cases: [(String, Change)] = [
            ("differ in parameters (imr.iterations: 3 vs 2)", { $0.parameters["imr.iterations"] = "2"; $0.runID = "run-2" }),
            ("differ in weights (scma: ab vs cd)", { $0.weights["scma"] = "cd"; $0.runID = "run-2" }),
            ("differ in supports", { $0.supports.append(RunManifest.Support(image: "33", mask: "44")); $0.runID = "run-2" }),
            ("differ in pipeline (fssam vs other)", { $0.pipeline = "other" }),
            ("differ in run_id (run-1 vs run-9)", { $0.runID = "run-9" }),
        ]
        for (expected, change) in cases {
            try setUpWithError()
            try writeParts(count: 3)
            let path = try ShardSelection(index: 2, count: 3).partDirectory(in: out)
            var m = try RunManifest.read(path + "/run.json")
            change(&m)
            try m.write(toDirectory: path)
            XCTAssertThrowsError(try ShardMerge.merge(outputDirectory: out)) { error in
                XCTAssertTrue("\(error)".hasPrefix("shards 0-of-3 and 2-of-3: \(expected)"), "\(error)")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/results.jsonl"), "nothing merged")
            try tearDownWithError()
        }
    }

    func testMergeRefusesMixedShardCountsAMislabelledPartAndUnsortedFiles() throws {
        try writeParts(count: 2)
        try FileManager.default.createDirectory(atPath: out + "/shards/0-of-3", withIntermediateDirectories: true)
        XCTAssertThrowsError(try ShardMerge.merge(outputDirectory: out)) { error in
            XCTAssertTrue("\(error)".contains("parts of different shard counts (0-of-2, 0-of-3, 1-of-2)"), "\(error)")
        }
        try FileManager.default.removeItem(atPath: out + "/shards/0-of-3")

        let part1 = try ShardSelection(index: 1, count: 2).partDirectory(in: out)
        var m = try RunManifest.read(part1 + "/run.json")
        m.shard = try ShardSelection(index: 0, count: 2)
        try m.write(toDirectory: part1)
        XCTAssertThrowsError(try ShardMerge.merge(outputDirectory: out)) { error in
            XCTAssertTrue("\(error)".contains("says it is shard 0-of-2, but its folder is 1-of-2"), "\(error)")
        }
        m.shard = try ShardSelection(index: 1, count: 2)
        try m.write(toDirectory: part1)

        let lines = try bytes(part1 + "/results.jsonl").split(separator: 10).map { Array($0) + [10] }
        try AtomicFile.write(Array(lines.reversed().joined()), to: part1 + "/results.jsonl")
        XCTAssertThrowsError(try ShardMerge.merge(outputDirectory: out)) { error in
            XCTAssertTrue("\(error)".contains("results.jsonl:2: out of order"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/results.jsonl"), "no half-merged file under the real name")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/run.json"))
    }

    func testJSONStringKeysDecodeEscapes() {
        let line = Array(#"{"id":"a\"b\\c\u00e9\ud83d\ude00\t","x":1}"#.utf8)
        XCTAssertEqual(JSONStringLiteral.decode(line, from: 6), Array("a\"b\\cé😀\t".utf8))
        XCTAssertNil(JSONStringLiteral.decode(Array(#"{"id":3}"#.utf8), from: 6))
        XCTAssertNil(JSONStringLiteral.decode(Array(#"{"id":"unterminated"#.utf8), from: 6))
    }
}

import XCTest
@testable import Pipeline

/// Shard assignment is a partition of the items, a function of the id alone (stable when the input
/// is reordered or grows), pinned to SHA-256, and the scheduler's environment selects it with
/// clear errors for bad values.
final class ShardSelectionTests: XCTestCase {
    let ids = (0..<300).map { i in i % 5 == 0 ? "sub/\(i)/img.jpg" : "img-\(i).png" } + ["", "é.png", "a b/c,d.png"]

    func testEveryItemIsInExactlyOneShardForOneToSevenShards() throws {
        for count in 1...7 {
            let shards = try (0..<count).map { try ShardSelection(index: $0, count: count) }
            var sizes = [Int](repeating: 0, count: count)
            for id in ids {
                let owners = shards.filter { $0.contains(itemID: id) }
                XCTAssertEqual(owners.count, 1, "\(id) with N=\(count)")
                if let owner = owners.first { sizes[owner.index] += 1 }
            }
            XCTAssertEqual(sizes.reduce(0, +), ids.count)
            if count > 1 { XCTAssertTrue(sizes.allSatisfy { $0 > ids.count / count / 3 }, "roughly even: \(sizes)") }
            // The filtered listings partition the stream too, in its order.
            let entries = ids.map { InputEntry.item(InputItem(id: $0, path: "/d/" + $0)) }
            let parts = shards.map { Array($0.filter(entries)) }
            XCTAssertEqual(parts.map(\.count).reduce(0, +), entries.count)
            XCTAssertEqual(Set(parts.joined().map { if case .item(let i) = $0 { return i.id } else { return "?" } }), Set(ids))
        }
    }

    func testAssignmentIsPinnedToSHA256OfTheIDAndStableUnderReorderingAndAdditions() throws {
        // python3: int.from_bytes(hashlib.sha256(id.encode()).digest()[:8], "big") % n
        XCTAssertEqual([2, 3, 7, 1000].map { ShardSelection.shard(of: Array("a/one.png".utf8), count: $0) }, [1, 1, 6, 857])
        XCTAssertEqual([2, 3, 7, 1000].map { ShardSelection.shard(of: Array("q00.png".utf8), count: $0) }, [0, 2, 4, 678])
        XCTAssertEqual([2, 3, 7, 1000].map { ShardSelection.shard(of: [], count: $0) }, [0, 1, 1, 652])

        let shard = try ShardSelection(index: 2, count: 5)
        func members(_ list: [String]) -> [String] {
            Array(shard.filter(list.map { InputEntry.item(InputItem(id: $0, path: $0)) })).compactMap {
                if case .item(let i) = $0 { return i.id } else { return nil }
            }
        }
        let before = Set(members(ids))
        var generator = SeededGenerator(state: 7)
        let grown = (ids + (0..<100).map { "new-\($0).png" }).shuffled(using: &generator)
        let after = Set(members(grown))
        XCTAssertEqual(after.intersection(ids), before, "old items stay in their shard")
        XCTAssertEqual(after.subtracting(ids), Set((0..<100).map { "new-\($0).png" }.filter { shard.contains(itemID: $0) }))
    }

    func testInputFailuresGoToExactlyOneShard() throws {
        let failures: [InputEntry] = (1...40).map { .failure(InputFailure(id: nil, source: "/m/list.jsonl", line: $0, reason: "not valid JSON")) }
            + [.failure(InputFailure(id: "dup.png", source: "/m/list.jsonl", line: 41, reason: "duplicate id")),
               .failure(InputFailure(id: nil, source: "/data", line: nil, reason: "cannot list folder"))]
        for count in 1...7 {
            let shards = try (0..<count).map { try ShardSelection(index: $0, count: count) }
            for failure in failures { XCTAssertEqual(shards.filter { $0.contains(failure) }.count, 1, "\(failure) N=\(count)") }
            if count > 1 {
                XCTAssertGreaterThan(Set(failures.prefix(40).map { f in shards.first { $0.contains(f) }!.index }).count, 1,
                                     "id-less failures spread by line")
            }
        }
        // A failure with an id goes where that id's item goes (a duplicate lands beside the first one).
        let owner = try ShardSelection(index: ShardSelection.shard(of: Array("dup.png".utf8), count: 4), count: 4)
        XCTAssertTrue(owner.contains(failures[40]))
    }

    func testParsingAndEnvironmentResolution() throws {
        XCTAssertEqual(try ShardSelection.parse("3/8"), try ShardSelection(index: 3, count: 8))
        XCTAssertEqual(try ShardSelection.parse("0/1").partName, "0-of-1")
        XCTAssertNil(try ShardSelection.resolve(shard: nil, shardCount: nil, environment: [:]))
        XCTAssertEqual(try ShardSelection.resolve(shard: "1/4", shardCount: 4, environment: ["SLURM_ARRAY_TASK_ID": "3"]),
                       try ShardSelection(index: 1, count: 4), "the flag wins over the environment")
        XCTAssertEqual(try ShardSelection.resolve(shard: nil, shardCount: nil,
                                                  environment: ["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "4",
                                                                "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "3"]),
                       try ShardSelection(index: 2, count: 4))
        // A resubmission of --array=1,3 has a task count of 2: with --shard-count the original N is used.
        XCTAssertEqual(try ShardSelection.resolve(shard: nil, shardCount: 4,
                                                  environment: ["SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "2",
                                                                "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "3"]),
                       try ShardSelection(index: 3, count: 4))
        XCTAssertEqual(try ShardSelection.resolve(shard: nil, shardCount: 5, environment: ["JOB_COMPLETION_INDEX": "4"]),
                       try ShardSelection(index: 4, count: 5))
    }

    func testBadValuesSayWhatIsWrong() {
        func message(_ shard: String?, _ count: Int?, _ environment: [String: String] = [:]) -> String {
            do {
                let s = try ShardSelection.resolve(shard: shard, shardCount: count, environment: environment)
                return "accepted \(String(describing: s))"
            } catch { return "\(error)" }
        }
        XCTAssertEqual(message("4/4", nil), "--shard 4/4: the shard index must be in 0..<4 (shards are numbered from 0)")
        XCTAssertEqual(message("0/0", nil), "--shard 0/0: the shard count must be 1…100000")
        XCTAssertEqual(message("x/3", nil), "--shard x/3: shard index 'x' is not an integer")
        XCTAssertEqual(message("1/y", nil), "--shard 1/y: shard count 'y' is not an integer")
        XCTAssertEqual(message("3", nil), "--shard 3: expected I/N, e.g. 0/4 (index from 0, then the count)")
        XCTAssertEqual(message("-1/3", nil), "--shard -1/3: the shard index must be in 0..<3 (shards are numbered from 0)")
        XCTAssertEqual(message("1/4", 3), "--shard 1/4: contradicts --shard-count 3")
        XCTAssertEqual(message(nil, nil, ["SLURM_ARRAY_TASK_ID": "1"]), "$SLURM_ARRAY_TASK_ID=1: no shard count: pass --shard-count N")
        XCTAssertEqual(message(nil, nil, ["SLURM_ARRAY_TASK_ID": "one", "SLURM_ARRAY_TASK_COUNT": "4"]),
                       "$SLURM_ARRAY_TASK_ID: 'one' is not an integer")
        XCTAssertEqual(message(nil, nil, ["SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "2",
                                          "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "3"]),
                       "$SLURM_ARRAY_TASK_ID=3: this array is 1…3 with 2 task(s), not 0…N-1 (a resubmission?); "
                       + "pass --shard-count N with the original N")
        XCTAssertEqual(message(nil, 4, ["SLURM_ARRAY_TASK_ID": "4"]),
                       "$SLURM_ARRAY_TASK_ID=4 with --shard-count 4: the shard index must be in 0..<4 (shards are numbered from 0)")
        XCTAssertEqual(message(nil, nil, ["JOB_COMPLETION_INDEX": "2"]),
                       "$JOB_COMPLETION_INDEX=2: no shard count: pass --shard-count N (the Job's completions)")
        XCTAssertEqual(message(nil, 0, ["JOB_COMPLETION_INDEX": "0"]),
                       "$JOB_COMPLETION_INDEX=0 with --shard-count 0: the shard count must be 1…100000")
        XCTAssertEqual(message(nil, 3), "--shard-count 3: no shard index: pass --shard I/N, or run as a Slurm array task or an Indexed Job pod")
    }
}

import Foundation
import XCTest

/// Every numeric option of every subcommand is range-checked with a message naming the option and
/// its range. Unchecked, `--threads 100000000` aborted (allocation), `--num-refine 10^12` never
/// ended, `--shard-count 2^63` aborted in `fssam status` and `merge`.
final class NumericOptionTests: HostileInputTestCase {
    let huge = "9223372036854775807"

    func testOutOfRangeOptionsAreRefusedNamingTheRange() throws {
        let support = ["--support", path("support.png"), path("mask.png")]
        let run = ["run"] + support + ["--queries", path("queries"), "--out", path("out"), "--cache", path("cache"), "--weights", "synthetic"]
        let eval = ["eval", "--dataset", "pascal", "--root", path("data"), "--fold", "0", "--weights", "synthetic"]
        let cases: [(arguments: [String], words: String)] = [
            (episode + ["--weights", "synthetic", "--threads", "100000000"], "--threads must be 1…1024"),
            (episode + ["--weights", "synthetic", "--num-refine", "1000000000000"], "--num-refine must be 0…100"),
            (episode + ["--weights", "synthetic", "--max-pixels", "0"], "--max-pixels must be 1…1000000000"),
            (run + ["--threads", huge], "--threads must be 1…1024"),
            (run + ["--category-id=-1"], "--category-id must be 0…2147483647"),
            (run + ["--shard-count", huge], "--shard-count must be 1…100000"),
            (eval + ["--episodes", huge], "--episodes must be 1…1000000"),
            (eval + ["--shots", "1000000"], "--shots must be 1…100"),
            (eval + ["--threads", "0"], "--threads must be 1…1024"),
            (["demo", path("demo"), "--threads", "100000000"], "--threads must be 1…1024"),
            (["demo", path("demo"), "--queries", "0"], "--queries must be 1…1000"),
            (["prepare"] + support + ["--cache", path("cache"), "--weights", "synthetic", "--threads", "100000000"], "--threads must be 1…1024"),
            (["explain", "query.png"] + support + ["--queries", path("queries"), "--weights", "synthetic", "--threads", huge],
             "--threads must be 1…1024"),
            (["status", "--out", path("out"), "--shard-count", huge], "--shard-count must be 1…100000"),
            (["merge", "--out", path("out"), "--shard-count", huge], "--shard-count must be 1…100000"),
            (run + ["--shard", "0/\(huge)"], "the shard count must be 1…100000"),
            (run + ["--set", "imr.iterations=1e99"], "imr.iterations=1e99: expected int in 0...100"),
            (run + ["--set", "scma.alpha=nan"], "scma.alpha=nan: expected float"),
        ]
        for (arguments, words) in cases {
            let what = arguments.joined(separator: " ")
            assertRefused(try fssam(arguments, timeout: 30), saying: [words], what)
        }
    }
}

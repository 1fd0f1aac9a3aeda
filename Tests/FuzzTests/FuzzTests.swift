import FixtureSupport
import Foundation
import XCTest

/// Bounded fuzzing of every parser (FuzzRunner's targets): fixed seeds, a few seconds per target,
/// each target in a child process with a time limit. Every mutation must end in success or an
/// orderly error: a signal or a hang fails the test and names the input that did it, to be kept
/// in Tests/FuzzCorpus/<target>/ as a regression input.
final class FuzzTests: XCTestCase {
    /// Seconds of mutations per target ($FSSAM_FUZZ_SECONDS overrides, for a longer hunt).
    let secondsPerTarget = Double(ProcessInfo.processInfo.environment["FSSAM_FUZZ_SECONDS"] ?? "") ?? 4

    static let corpusRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("FuzzCorpus")

    func testEveryTargetEndsInAnOrderlyOutcome() throws {
        let runner = BuiltProducts.executable("FuzzRunner")
        let listing = try runProcess(runner, ["--list"], timeout: 30)
        XCTAssertEqual(listing.status, 0, listing.description)
        let targets = listing.stdout.split(separator: "\n").map(String.init)
        XCTAssertFalse(targets.isEmpty, "FuzzRunner lists no target")
        for target in targets {
            let corpus = Self.corpusRoot.appendingPathComponent(target)
            XCTAssertTrue(FileManager.default.fileExists(atPath: corpus.path), "no corpus for fuzz target \(target) at \(corpus.path)")
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("fssam-fuzz-\(target)-\(UUID().uuidString)")
            let result = try runProcess(runner, [target, "--seed", "20261206", "--seconds", String(secondsPerTarget),
                                                 "--corpus", corpus.path, "--scratch", scratch.path],
                                        timeout: secondsPerTarget + 60)
            if result.isOrderly && result.status == 0 {
                print(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
                try? FileManager.default.removeItem(at: scratch)
            } else {
                XCTFail("fuzz target \(target): \(result.description); the input is kept at \(scratch.path)/current")
            }
        }
    }
}

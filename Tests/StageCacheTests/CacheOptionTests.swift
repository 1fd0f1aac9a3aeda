import Foundation
import XCTest
import FixtureSupport
@testable import StageCache

/// `fssam cache` options that used to trap or dump Foundation errors: numeric values out of range
/// (1e99G was a Double→Int trap, SIGILL) and a cache path that is a file.
final class CacheOptionTests: XCTestCase {
    func testSizesAndAgesOutOfRangeAreErrorsNamingTheOption() throws {
        let cache = try CacheProcess.makeCache(try temporaryDirectory(self), items: 2)
        let cases: [(String, String, String)] = [
            ("--budget", "1e99G", "larger than the largest size"), ("--budget", "infG", "a size must be a number"),
            ("--budget", "nanM", "a size must be a number"), ("--budget", "-5G", "a size must be a number"),
            ("--budget", "=-5", "cannot read it as a size"), ("--budget", "99999999999999999999", "larger than the largest size"),
            ("--older-than", "1e99d", "longer than the longest age"), ("--older-than", "nand", "an age must be a number"),
            ("--older-than", "-1d", "an age must be a number"), ("--older-than", "12x", "cannot read it as an age"),
        ]
        for (option, value, reason) in cases {
            let result = try CacheProcess.run(["cache", "gc", "\(option)=\(value)", "--cache", cache])
            assertOrderlyFailure(result, mentions: [option, reason], "\(option) \(value)")
        }
        let fine = try CacheProcess.run(["cache", "gc", "--budget", "1.5G", "--cache", cache])
        XCTAssertTrue(fine.isOrderly && fine.status == 0, fine.description)
    }

    func testACachePathThatIsAFileIsRefusedInWords() throws {
        let file = try temporaryDirectory(self) + "/not-a-folder"
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        for command in [["cache", "stats"], ["cache", "gc", "--budget", "1G"], ["cache", "verify"]] {
            let viaOption = try CacheProcess.run(command + ["--cache", file])
            assertOrderlyFailure(viaOption, mentions: ["--cache \(file) is a file, not a folder"], command.joined(separator: " "))
            let viaEnvironment = try CacheProcess.run(command, environment: ["FSSAM_CACHE": file])
            assertOrderlyFailure(viaEnvironment, mentions: ["FSSAM_CACHE=\(file) is a file, not a folder"], command.joined(separator: " "))
            XCTAssertFalse(viaEnvironment.stderr.contains("NSCocoaErrorDomain"), viaEnvironment.stderr)
        }
        // The library says the same to every other caller (fssam run, prepare, eval, demo).
        XCTAssertThrowsError(try CacheStore(directory: file, options: testOptions())) { error in
            XCTAssertEqual("\(error)", "cache path \(file) is a file, not a folder")
        }
    }
}

import Foundation
import XCTest
import FixtureSupport
@testable import StageCache

/// Running the real `fssam` and `CacheStressWriter` binaries on real caches, with time limits, so a
/// crash or a hang fails its test instead of the test runner.
enum CacheProcess {
    static var fssam: URL { BuiltProducts.executable("fssam") }
    static var stressWriter: URL { BuiltProducts.executable("CacheStressWriter") }

    /// `fssam ARGS` with a time limit.
    static func run(_ arguments: [String], environment: [String: String]? = nil, timeout: TimeInterval = 60) throws -> ProcessResult {
        try runProcess(fssam, arguments, environment: environment, timeout: timeout)
    }

    /// A cache of `items` stress records (each 32–64 KiB of incompressible floats plus a mask, with a
    /// done-record), written by the stress writer; returns its folder.
    static func makeCache(_ directory: String, items: Int, seed: Int = 7) throws -> String {
        let result = try runProcess(stressWriter, [directory, String(seed), String(items), String(1 << 20)], timeout: 120)
        guard result.isOrderly, result.status == 0 else {
            throw CacheError.invalidArgument("CacheStressWriter failed making \(directory): \(result.description)")
        }
        return directory
    }

    /// Copies a cache folder (data.mdb only; LMDB recreates lock.mdb).
    static func copy(_ source: String, to destination: String) throws {
        try FileManager.default.createDirectory(atPath: destination, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: source + "/data.mdb", toPath: destination + "/data.mdb")
    }
}

extension XCTestCase {
    /// Asserts an orderly failure (exit status 1…127, no signal, no time-out) whose stderr holds every fragment.
    func assertOrderlyFailure(_ result: ProcessResult, mentions fragments: [String], _ context: String = "",
                              file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(result.isOrderly, "\(context): \(result.description)", file: file, line: line)
        XCTAssertNotEqual(result.status, 0, "\(context): must fail; stdout: \(result.stdout)", file: file, line: line)
        for fragment in fragments {
            XCTAssertTrue(result.stderr.contains(fragment), "\(context): stderr lacks \"\(fragment)\": \(result.stderr)",
                          file: file, line: line)
        }
    }

    /// Asserts `fssam cache verify` on `directory` ends orderly, clean.
    func assertVerifiesClean(_ directory: String, _ context: String = "", file: StaticString = #filePath, line: UInt = #line) throws {
        let verify = try CacheProcess.run(["cache", "verify", "--cache", directory])
        XCTAssertTrue(verify.isOrderly && verify.status == 0, "\(context): verify of \(directory): \(verify.description) \(verify.stdout)",
                      file: file, line: line)
        XCTAssertTrue(verify.stdout.contains(": OK"), "\(context): \(verify.stdout)", file: file, line: line)
    }
}

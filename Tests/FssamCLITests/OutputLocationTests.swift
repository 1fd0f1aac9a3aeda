import Foundation
import XCTest

/// An output path that cannot be used is refused before any work, in plain words naming the path
/// in the way (it used to print Foundation's "NSCocoaErrorDomain error 512" text).
final class OutputLocationTests: HostileInputTestCase {
    func testUnusableOutputPathsAreRefusedInPlainWords() throws {
        let file = try write("not a folder\n", to: "a-file")
        try FileManager.default.createDirectory(atPath: path("folder.png"), withIntermediateDirectories: true)
        let eval = ["eval", "--dataset", "pascal", "--root", path("data"), "--fold", "0", "--weights", "synthetic"]
        let cases: [(arguments: [String], words: [String])] = [
            (eval + ["--save-predictions", file], ["--save-predictions \(file)", "is a file, not a folder"]),
            (eval + ["--out", file], ["--out \(file)", "is a file, not a folder"]),
            (eval + ["--out", file + "/report"], ["\(file) is a file, so the folder \(file)/report cannot be created"]),
            (["demo", file], ["demo folder \(file)", "is a file, not a folder"]),
            (Array(episode.dropLast(2)) + ["--out", path("folder.png"), "--weights", "synthetic"], ["\(path("folder.png")) is a folder"]),
            (Array(episode.dropLast(2)) + ["--out", file + "/mask.png", "--weights", "synthetic"], ["\(file) is a file, not a folder"]),
        ]
        for (arguments, words) in cases {
            let what = arguments.joined(separator: " ")
            let result = try fssam(arguments, timeout: 60)
            assertRefused(result, saying: words, what)
            XCTAssertFalse(result.stderr.contains("couldn"), "\(what): \(result.stderr)")
        }
    }
}

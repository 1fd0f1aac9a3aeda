import FixtureSupport
import Foundation
import XCTest

/// Support sets and pipeline files that crashed fssam (5,000-deep YAML or JSON: Yams recursed off
/// the stack), hung it (a named pipe), or were silently half-read (a repeated key).
final class HostileTextFileTests: HostileInputTestCase {
    func testDeeplyNestedSupportSetIsRefusedInYAMLAndJSON() throws {
        let deep = String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)
        let yaml = try write("supports:\n  - {image: support.png, mask: mask.png}\nignore_value: \(deep)\n", to: "deep.yaml")
        assertRefused(try fssam(episode(supportSet: yaml)),
                      saying: ["\(yaml):3:", "nesting deeper than 64 levels"], "deep YAML support set")
        let json = try write("{\"supports\": [{\"image\": \"support.png\", \"mask\": \"mask.png\"}],\n \"ignore_value\": \(deep)}\n", to: "deep.json")
        assertRefused(try fssam(episode(supportSet: json)),
                      saying: ["\(json):2:", "nesting deeper than 64 levels"], "deep JSON support set")
    }

    func testRepeatedKeysAreRefusedWithTheirLine() throws {
        let yaml = try write("supports:\n  - {image: support.png, mask: mask.png}\nsupports:\n  - {image: other.png, mask: other.png}\n",
                             to: "twice.yaml")
        assertRefused(try fssam(episode(supportSet: yaml)),
                      saying: ["\(yaml):3:", "duplicate key 'supports'"], "repeated key in a YAML support set")
        let json = try write("{\"supports\": [{\"image\": \"support.png\", \"mask\": \"mask.png\", \"mask\": \"support.png\"}]}\n",
                             to: "twice.json")
        assertRefused(try fssam(episode(supportSet: json)),
                      saying: ["\(json):1:", "duplicate key 'mask'"], "repeated key in a JSON support set")

        let pipeline = try String(contentsOf: Fixtures.packageRoot.appendingPathComponent("Pipelines/fssam.yaml"), encoding: .utf8)
        let repeated = try write(pipeline + "name: again\n", to: "pipeline.yaml")
        let lines = pipeline.split(separator: "\n", omittingEmptySubsequences: false).count
        assertRefused(try fssam(["run", "--support", path("support.png"), path("mask.png"), "--queries", path("queries"),
                                 "--out", path("out"), "--cache", path("cache"), "--weights", "synthetic", "--pipeline", repeated]),
                      saying: ["\(repeated):\(lines):", "duplicate key 'name'"], "repeated key in a pipeline file")
    }

    func testNamedPipeIsRefusedAsSupportSetAndPipelineFile() throws {
        let supports = try fifo("supports.yaml")
        assertRefused(try fssam(episode(supportSet: supports), timeout: 20),
                      saying: [supports, "support-set file is a named pipe"], "--support-set FIFO")
        let pipeline = try fifo("pipeline.yaml")
        assertRefused(try fssam(["run", "--support", path("support.png"), path("mask.png"), "--queries", path("queries"),
                                 "--out", path("out"), "--cache", path("cache"), "--weights", "synthetic", "--pipeline", pipeline],
                                timeout: 20),
                      saying: [pipeline, "pipeline file is a named pipe"], "--pipeline FIFO")
    }
}

import XCTest
import FixtureSupport

/// Sharding on a real Slurm (Debian's slurm-wlm + munge, installed by the setup script): a private
/// single-node cluster on 127.0.0.1, an array of 4 shards, status, merge, byte-identical to a
/// single-process run; then a shard cancelled mid-way, resubmitted, identical again. The script
/// does the work (it is also run by hand, see README); this runs it with the freshly built binary
/// and fails — never skips — when Slurm is missing or anything differs.
final class SlurmTests: XCTestCase {
    func testShardedArrayOnARealSlurmMergesToTheSingleProcessOutput() throws {
        let script = Fixtures.packageRoot.appendingPathComponent("scripts/cluster/slurm_test.sh").path
        var environment = ProcessInfo.processInfo.environment
        environment["FSSAM_BIN"] = BuiltProducts.executable("fssam").path
        let result = try runProcess(URL(fileURLWithPath: "/bin/bash"), [script], environment: environment)
        XCTAssertEqual(result.status, 0, "slurm_test.sh failed:\n\(result.stdout)\n\(result.stderr)")
        XCTAssertTrue(result.stdout.contains("PASSED"), result.stdout)
    }
}

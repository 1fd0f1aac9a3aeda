import XCTest
import FixtureSupport

/// The binary's top-level help is what a new user reads first: it must list every command group.
final class HelpTests: XCTestCase {
    func testHelpListsCommandGroups() throws {
        let result = try runProcess(BuiltProducts.executable("fssam"), ["--help"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("USAGE: fssam"), result.stdout)
    }

    func testUnknownCommandFailsWithMessage() throws {
        let result = try runProcess(BuiltProducts.executable("fssam"), ["no-such-command"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("no-such-command"), result.stderr)
    }
}

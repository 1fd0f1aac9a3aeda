import XCTest
import Foundation
@testable import Tensor

final class ModelThreadTests: XCTestCase {
    struct Boom: Error, Equatable { let code: Int }

    /// Work runs on the model thread (not the caller's), returns its value, rethrows its error,
    /// and a nested call from the model thread runs inline instead of waiting on itself.
    func testRunsOnItsOwnThreadReturnsAndThrows() throws {
        let caller = Thread.current
        XCTAssertFalse(ModelThread.isCurrent)
        let (onModelThread, isCaller, nested) = try ModelThread.run { () -> (Bool, Bool, Bool) in
            let inner = try ModelThread.run { ModelThread.isCurrent }
            return (ModelThread.isCurrent, Thread.current == caller, inner)
        }
        XCTAssertTrue(onModelThread)
        XCTAssertFalse(isCaller)
        XCTAssertTrue(nested)
        XCTAssertThrowsError(try ModelThread.run { () throws -> Int in throw Boom(code: 7) }) { error in
            XCTAssertEqual(error as? Boom, Boom(code: 7))
        }
    }

    /// Calls from several threads at once are served one at a time, each getting its own result.
    func testConcurrentCallersAreSerialised() {
        let lock = NSLock()
        nonisolated(unsafe) var running = 0, maxRunning = 0
        nonisolated(unsafe) var results = [Int](repeating: -1, count: 16)
        DispatchQueue.concurrentPerform(iterations: 16) { i in
            let value = try! ModelThread.run { () -> Int in
                lock.withLock { running += 1; maxRunning = max(maxRunning, running) }
                usleep(2000)
                lock.withLock { running -= 1 }
                return i * i
            }
            lock.withLock { results[i] = value }
        }
        XCTAssertEqual(maxRunning, 1)
        XCTAssertEqual(results, (0..<16).map { $0 * $0 })
    }
}

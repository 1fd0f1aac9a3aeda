import Foundation

/// Executables built beside the running test bundle (`swift test` puts them in the same
/// directory), so end-to-end tests run the real `fssam` binary.
public enum BuiltProducts {
    public static var directory: URL {
        // /proc/self/exe is the xctest runner binary inside .build/<triple>/<configuration>/.
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        var url = URL(fileURLWithPath: exe)
        // Walk up past any `.xctest` bundle directory.
        while url.pathComponents.count > 1 {
            url.deleteLastPathComponent()
            if !url.lastPathComponent.hasSuffix(".xctest") && FileManager.default.fileExists(atPath: url.appendingPathComponent("fssam").path) {
                return url
            }
        }
        fatalError("cannot find the built fssam executable next to the test runner \(exe)")
    }

    public static func executable(_ name: String) -> URL { directory.appendingPathComponent(name) }
}

/// The result of running a built executable.
public struct ProcessResult: Sendable {
    /// The exit status, or the signal number when `signalled`.
    public let status: Int32
    public let stdout: String
    public let stderr: String
    /// Ended by a signal (a crash, or the kill after `timedOut`).
    public var signalled = false
    /// Still running after the time limit, and killed.
    public var timedOut = false

    /// An orderly end: the process exited by itself (any exit status below 128), within its time limit.
    public var isOrderly: Bool { !signalled && !timedOut && status < 128 }

    /// What went wrong, for a failing assertion: how it ended and the tail of its stderr.
    public var description: String {
        let how = timedOut ? "timed out (killed)" : signalled ? "killed by signal \(status)" : "exit status \(status)"
        return "\(how); stderr: \(stderr.suffix(2000))"
    }
}

/// Runs `executable` with `arguments` and waits for it, at most `timeout` seconds: past that it is
/// killed (SIGKILL) and the result says `timedOut`, so a hang fails its test instead of the whole
/// test run. Output is drained concurrently so a chatty child never blocks on a full pipe.
public func runProcess(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil,
                       currentDirectory: URL? = nil, standardInput: URL? = nil,
                       timeout: TimeInterval = 600) throws -> ProcessResult {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if let environment {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    if let currentDirectory { process.currentDirectoryURL = currentDirectory }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    if let standardInput { process.standardInput = try FileHandle(forReadingFrom: standardInput) }
    let finished = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in finished.signal() }
    try process.run()
    let outData = LockedData(), errData = LockedData()
    let group = DispatchGroup()
    for (pipe, sink) in [(out, outData), (err, errData)] {
        DispatchQueue.global().async(group: group) { sink.set(pipe.fileHandleForReading.readDataToEndOfFile()) }
    }
    var timedOut = false
    if finished.wait(timeout: .now() + timeout) == .timedOut {
        timedOut = true
        kill(process.processIdentifier, SIGKILL)
    }
    process.waitUntilExit()
    group.wait()
    var result = ProcessResult(status: process.terminationStatus,
                               stdout: String(decoding: outData.get(), as: UTF8.self),
                               stderr: String(decoding: errData.get(), as: UTF8.self))
    result.signalled = process.terminationReason == .uncaughtSignal
    result.timedOut = timedOut
    return result
}

private final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func set(_ value: Data) { lock.lock(); data = value; lock.unlock() }
    func get() -> Data { lock.lock(); defer { lock.unlock() }; return data }
}

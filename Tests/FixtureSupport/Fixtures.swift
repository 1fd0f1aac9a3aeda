import Foundation

/// Where the numerical oracle lives: `../shared/fixtures` beside the package root, or the
/// directory named by `FSSAM_FIXTURES`. A missing fixture directory is a hard failure — parity
/// tests must never pass by skipping.
public enum Fixtures {
    public static let environmentVariable = "FSSAM_FIXTURES"

    /// The package root, found from this file's compile-time path (Tests/FixtureSupport/Fixtures.swift).
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public static var directory: URL {
        if let override = ProcessInfo.processInfo.environment[environmentVariable], !override.isEmpty {
            return URL(fileURLWithPath: override)
        }
        return packageRoot.deletingLastPathComponent().appendingPathComponent("shared/fixtures")
    }

    /// Path of a fixture file; stops the test process with a clear message if it is absent.
    public static func path(_ name: String) -> String {
        let url = directory.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else {
            fatalError("""
                fixture '\(name)' not found at \(url.path). The parity tests need the shared fixtures: \
                put them at ../shared/fixtures beside the package or set \(environmentVariable)=DIR.
                """)
        }
        return url.path
    }
}

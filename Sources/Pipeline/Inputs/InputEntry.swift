/// One image to segment: `id` names it in every output (relative path for folder inputs, the
/// manifest's `id` otherwise), `path` is where its bytes are.
public struct InputItem: Sendable, Equatable {
    public let id: String
    public let path: String
    /// Expected SHA-256 (lowercase hex) from a manifest, checked when the file is read.
    public let sha256: String?

    public init(id: String, path: String, sha256: String? = nil) {
        self.id = id
        self.path = path
        self.sha256 = sha256
    }
}

/// An input that could not be listed: a manifest line that does not parse, a duplicate id, an
/// unreadable folder. It becomes an error record and the run goes on.
public struct InputFailure: Sendable, Equatable, CustomStringConvertible {
    /// The item id when the line got far enough to have one.
    public let id: String?
    /// The manifest file or folder the problem is in.
    public let source: String
    /// 1-based manifest line, when the source is a manifest.
    public let line: Int?
    public let reason: String

    public init(id: String?, source: String, line: Int?, reason: String) {
        self.id = id
        self.source = source
        self.line = line
        self.reason = reason
    }

    public var description: String {
        "\(source)\(line.map { ":\($0)" } ?? "")\(id.map { " (id \($0))" } ?? ""): \(reason)"
    }
}

public enum InputEntry: Sendable, Equatable {
    case item(InputItem)
    case failure(InputFailure)
}

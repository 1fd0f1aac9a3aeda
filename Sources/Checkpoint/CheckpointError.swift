/// A checkpoint that cannot be read: names the file and says why.
public struct CheckpointError: Error, CustomStringConvertible, Sendable, Equatable {
    public let file: String
    public let reason: String

    public init(_ file: String, _ reason: String) {
        self.file = file
        self.reason = reason
    }

    public var description: String { "\(file): \(reason)" }
}

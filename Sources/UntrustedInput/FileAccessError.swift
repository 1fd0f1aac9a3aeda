/// A file that cannot be read as an input: which file, and why in plain words. The checkpoint and
/// pipeline readers turn it into their own error types with the same text.
public struct FileAccessError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// No such file, no permission, or an I/O error.
        case unreadable
        /// A folder, FIFO, device or socket.
        case notRegularFile
        /// Over the size limit of its kind of file.
        case tooLarge
    }

    public let kind: Kind
    public let path: String
    public let reason: String

    public init(_ kind: Kind, _ path: String, _ reason: String) {
        self.kind = kind
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(path): \(reason)" }
}

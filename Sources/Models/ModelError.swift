/// A model that cannot be built or run: names the weight or input and says why.
public struct ModelError: Error, CustomStringConvertible, Sendable, Equatable {
    public let subject: String
    public let reason: String

    public init(_ subject: String, _ reason: String) {
        self.subject = subject
        self.reason = reason
    }

    public var description: String { "\(subject): \(reason)" }
}

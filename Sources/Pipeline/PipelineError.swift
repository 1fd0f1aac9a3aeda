/// A problem with an input or output of the pipeline: names the file (or option) and says why.
public struct PipelineError: Error, CustomStringConvertible, Sendable {
    public let subject: String
    public let reason: String

    public init(_ subject: String, _ reason: String) {
        self.subject = subject
        self.reason = reason
    }

    public var description: String { "\(subject): \(reason)" }
}

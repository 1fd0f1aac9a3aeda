import Checkpoint
import Tensor

/// A view of a state dict under a key prefix (`blocks.3.`, `sam_mask_decoder.transformer.` …), so
/// each module binds its own short names, as in the checkpoint, and errors still name the full key.
public struct ModuleWeights: Sendable {
    public let stateDict: StateDict
    public let prefix: String

    public init(_ stateDict: StateDict, prefix: String = "") {
        self.stateDict = stateDict
        self.prefix = prefix
    }

    public func child(_ name: String) -> ModuleWeights { ModuleWeights(stateDict, prefix: prefix + name + ".") }

    /// The tensor `prefix + name`, which must exist with `shape` (nil: any shape).
    public func callAsFunction(_ name: String, shape: [Int]? = nil) throws -> Tensor {
        if let shape { return try stateDict.require(prefix + name, shape: shape) }
        return try stateDict.require(prefix + name)
    }

    public func contains(_ name: String) -> Bool { stateDict[prefix + name] != nil }
}

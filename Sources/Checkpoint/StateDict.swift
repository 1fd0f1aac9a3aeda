import Tensor

/// The named float32 weights of one model after routing (e.g. the `sam2.` part of a fine-tuned
/// checkpoint with the prefix removed). Keys keep the order they were inserted in, which is the
/// checkpoint's order, so listings and conversions are reproducible.
public struct StateDict: Sendable {
    /// Where the weights came from (a file path, `synthetic:0`, ...); errors name it.
    public var source: String
    public private(set) var keys: [String] = []
    public private(set) var tensors: [String: Tensor] = [:]

    public init(source: String) {
        self.source = source
    }

    /// A state dict from `(name, tensor)` pairs in order; a repeated name is an error, because a
    /// checkpoint holding one key twice is ambiguous.
    public init(source: String, _ pairs: [(String, Tensor)]) throws {
        self.source = source
        keys.reserveCapacity(pairs.count)
        tensors.reserveCapacity(pairs.count)
        for (name, tensor) in pairs {
            guard tensors[name] == nil else { throw CheckpointError(source, "key '\(name)' occurs twice") }
            keys.append(name)
            tensors[name] = tensor
        }
    }

    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }
    /// Total number of float values over all tensors.
    public var parameterCount: Int { keys.reduce(0) { $0 + tensors[$1]!.count } }

    public subscript(name: String) -> Tensor? { tensors[name] }

    /// Sets `name`; a new key goes to the end, an existing one keeps its place.
    public mutating func set(_ name: String, _ tensor: Tensor) {
        if tensors.updateValue(tensor, forKey: name) == nil { keys.append(name) }
    }

    /// The tensor named `name`, which must exist.
    public func require(_ name: String) throws -> Tensor {
        guard let tensor = tensors[name] else {
            throw CheckpointError(source, "missing weight '\(name)' (\(count) keys present)")
        }
        return tensor
    }

    /// The tensor named `name`, which must exist with exactly `shape`; a model binding its weights
    /// calls this so that a wrong checkpoint fails at load time and not deep inside a kernel.
    public func require(_ name: String, shape: [Int]) throws -> Tensor {
        let tensor = try require(name)
        guard tensor.shape == shape else {
            throw CheckpointError(source, "weight '\(name)' has shape \(tensor.shape), expected \(shape)")
        }
        return tensor
    }

    /// Every key with `prefix` put in front (e.g. `sam2.` when writing a combined file).
    public func prefixed(_ prefix: String) -> StateDict {
        var out = StateDict(source: source)
        for key in keys { out.set(prefix + key, tensors[key]!) }
        return out
    }

    /// Only the keys that start with `prefix`, with the prefix removed (`module.sam2.` → SAM 2's own names).
    public func stripping(prefix: String) -> StateDict {
        var out = StateDict(source: source)
        for key in keys where key.hasPrefix(prefix) {
            out.set(String(key.dropFirst(prefix.count)), tensors[key]!)
        }
        return out
    }

    /// Keys whose names start with `prefix`.
    public func keys(withPrefix prefix: String) -> [String] { keys.filter { $0.hasPrefix(prefix) } }

    /// Checks that the keys and shapes are exactly `specs` (no key missing, none extra, every shape
    /// equal). Errors name the first few problems.
    public func validate(against specs: [TensorSpec]) throws {
        let problems = TensorSpec.problems(actual: keys.map { ($0, tensors[$0]!.shape) }, expected: specs)
        guard problems.isEmpty else {
            let shown = problems.prefix(8).joined(separator: "; ")
            throw CheckpointError(source, "\(problems.count) key problem(s): \(shown)\(problems.count > 8 ? "; ..." : "")")
        }
    }
}

import StageCache
import Tensor

/// One stage output as the run sees it: its digest, known at once (it feeds downstream keys), and
/// its tensors, produced only when something downstream has to compute with them. So a hit on a
/// downstream key never makes an upstream stage run or even read its blobs.
final class StageOutput {
    let digest: Digest
    private var tensors: [String: CacheTensor]?
    private let produce: () throws -> [String: CacheTensor]

    init(digest: Digest, tensors: [String: CacheTensor]) {
        self.digest = digest
        self.tensors = tensors
        self.produce = { tensors }
    }

    init(digest: Digest, produce: @escaping () throws -> [String: CacheTensor]) {
        self.digest = digest
        self.produce = produce
    }

    func outputs() throws -> [String: CacheTensor] {
        if let tensors { return tensors }
        let made = try produce()
        tensors = made
        return made
    }

    func tensor(_ name: String) throws -> Tensor {
        guard let t = try outputs()[name], let floats = t.floats else {
            throw PipelineError("stage output \(digest.short)", "has no float32 output '\(name)'")
        }
        return Tensor(shape: t.shape, storage: floats)
    }

    /// One digest for a multi-tensor output (or a list of outputs): each part's name and digest, in
    /// name order. Built the same way from a computed output and from a cache record, so a hit and
    /// a miss give downstream stages the same key.
    static func combine(_ parts: [String: Digest]) -> Digest {
        var bytes = Array("FSSAM-RUN-OUTPUT-1".utf8)
        for name in parts.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            bytes += Array(name.utf8) + [0] + parts[name]!.bytes
        }
        return Digest.sha256(bytes)
    }

    static func digests(of outputs: [String: CacheTensor]) -> [String: Digest] {
        outputs.mapValues { BlobDigest.of($0) }
    }
}

extension CacheTensor {
    init(_ tensor: Tensor) { self.init(shape: tensor.shape, floats: tensor.storage) }
}

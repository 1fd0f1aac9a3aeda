import StageCache
import Tensor

/// A query's model input (the 512² image, 0…255) as the stages see it: its digest at once (it
/// feeds the encoders' keys), the tensor only when a stage that reads it must compute. A re-tune
/// whose encoder stages all hit therefore never decodes the image (see `DecodeMemo`).
/// Used by one item's stage resolution at a time.
public final class QueryImage: @unchecked Sendable {
    public let digest: Digest
    private let make: () throws -> Tensor
    private var made: Tensor?

    /// `make` must produce a tensor whose `BlobDigest` is `digest`; `tensor()` checks it.
    public init(digest: Digest, make: @escaping () throws -> Tensor) {
        self.digest = digest
        self.make = make
    }

    /// An image already decoded and resized.
    public convenience init(_ tensor: Tensor) {
        self.init(digest: BlobDigest.of(CacheTensor(tensor))) { tensor }
        made = tensor
    }

    public func tensor() throws -> Tensor {
        if let made { return made }
        let tensor = try make()
        guard BlobDigest.of(CacheTensor(tensor)) == digest else {
            throw PipelineError("decode", "the image no longer decodes to the model input \(digest.short) its cache memo records "
                                + "(a decoder that changed without its version?)")
        }
        made = tensor
        return tensor
    }
}

import Tensor

/// `memory_encoder.py::Fuser` with `input_projection=False` (proj = Identity): `layers.{i}` CXBlocks in turn.
public struct Fuser: Sendable {
    public let layers: [CXBlock]

    public init(_ w: ModuleWeights, numLayers: Int = 2, dim: Int = 256) throws {
        layers = try (0..<numLayers).map { try CXBlock(w.child("layers.\($0)"), dim: dim) }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { layers.reduce(x) { $1($0) } }
}

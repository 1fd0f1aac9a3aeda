import Tensor

/// `sam2_utils.py::MLP(input_dim, hidden_dim, output_dim, num_layers, activation, sigmoid_output)`:
/// `num_layers` Linears (`layers.{i}`), the activation after every layer but the last, and an
/// optional final sigmoid. ReLU in every SAM 2 head (IoU, object score, hypernetworks,
/// `obj_ptr_proj`, the two-way transformer's 2-layer MLP).
public struct MLP: Sendable {
    public enum Activation: Sendable { case relu, gelu }

    public let layers: [PackedLinear]
    public let activation: Activation
    public let sigmoidOutput: Bool

    public init(_ w: ModuleWeights, inputDim: Int, hiddenDim: Int, outputDim: Int, numLayers: Int,
                activation: Activation = .relu, sigmoidOutput: Bool = false) throws {
        let dims = [inputDim] + Array(repeating: hiddenDim, count: numLayers - 1) + [outputDim]
        layers = try (0..<numLayers).map { i in try PackedLinear(w.child("layers.\(i)"), in: dims[i], out: dims[i + 1]) }
        self.activation = activation
        self.sigmoidOutput = sigmoidOutput
    }

    /// `x [..., inputDim]` → `[..., outputDim]`.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var y = x
        for (i, layer) in layers.enumerated() {
            y = layer(y)
            if i < layers.count - 1 { y = activation == .relu ? y.relu() : y.gelu() }
        }
        return sigmoidOutput ? y.sigmoid() : y
    }
}

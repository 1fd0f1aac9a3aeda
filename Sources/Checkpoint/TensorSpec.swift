/// One state-dict entry as an architecture declares it: the key and the shape, before any values exist.
/// The key lists are built from the module structure (see `DINOv2Keys`, `SAM2Keys`) so that loading,
/// shape checking and synthetic generation all agree on one source of truth.
public struct TensorSpec: Sendable, Equatable, CustomStringConvertible {
    public let name: String
    public let shape: [Int]

    public init(_ name: String, _ shape: [Int]) {
        self.name = name
        self.shape = shape
    }

    public var elementCount: Int { shape.reduce(1, *) }
    public var description: String { "\(name) \(shape)" }
}

extension TensorSpec {
    /// Differences between actual `(name, shape)` pairs and `expected`: missing keys, wrong shapes,
    /// unexpected keys, in that order.
    public static func problems(actual: [(name: String, shape: [Int])], expected: [TensorSpec]) -> [String] {
        var problems: [String] = []
        let shapes = Dictionary(actual.map { ($0.name, $0.shape) }, uniquingKeysWith: { a, _ in a })
        let expectedNames = Set(expected.map(\.name))
        for spec in expected {
            guard let shape = shapes[spec.name] else { problems.append("missing '\(spec.name)' \(spec.shape)"); continue }
            if shape != spec.shape { problems.append("'\(spec.name)' has shape \(shape), expected \(spec.shape)") }
        }
        for entry in actual where !expectedNames.contains(entry.name) { problems.append("unexpected '\(entry.name)'") }
        return problems
    }
}

/// Appends the `weight`/`bias` pair of a layer, in the order `nn.Module.state_dict` emits them.
struct SpecList {
    private(set) var specs: [TensorSpec] = []

    mutating func add(_ name: String, _ shape: [Int]) { specs.append(TensorSpec(name, shape)) }

    /// `nn.Linear(in, out)`: weight [out, in], bias [out].
    mutating func linear(_ prefix: String, _ inFeatures: Int, _ outFeatures: Int, bias: Bool = true) {
        add(prefix + ".weight", [outFeatures, inFeatures])
        if bias { add(prefix + ".bias", [outFeatures]) }
    }

    /// `nn.Conv2d(in, out, k)`: weight [out, in/groups, k, k], bias [out].
    mutating func conv(_ prefix: String, _ inChannels: Int, _ outChannels: Int, kernel: Int, groups: Int = 1) {
        add(prefix + ".weight", [outChannels, inChannels / groups, kernel, kernel])
        add(prefix + ".bias", [outChannels])
    }

    /// `nn.ConvTranspose2d(in, out, k)`: PyTorch stores the weight as [in, out, k, k].
    mutating func convTranspose(_ prefix: String, _ inChannels: Int, _ outChannels: Int, kernel: Int) {
        add(prefix + ".weight", [inChannels, outChannels, kernel, kernel])
        add(prefix + ".bias", [outChannels])
    }

    /// `nn.LayerNorm(dim)` and SAM's `LayerNorm2d(dim)`: weight and bias [dim].
    mutating func norm(_ prefix: String, _ dim: Int) {
        add(prefix + ".weight", [dim])
        add(prefix + ".bias", [dim])
    }
}

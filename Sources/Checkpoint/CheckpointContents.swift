import Tensor

/// One tensor of a checkpoint before conversion: its name, stored dtype and shape, and how to load
/// it as float32 (deferred, so listing a 4 GB file does not read 4 GB).
public struct SourceTensor: Sendable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    private let loader: @Sendable () throws -> Tensor

    public init(name: String, dtype: DType, shape: [Int], load: @escaping @Sendable () throws -> Tensor) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.loader = load
    }

    public var elementCount: Int { shape.reduce(1, *) }

    public func load() throws -> Tensor { try loader() }

    /// The same tensor under another name.
    public func renamed(_ newName: String) -> SourceTensor {
        SourceTensor(name: newName, dtype: dtype, shape: shape, load: loader)
    }
}

/// The tensors of a checkpoint file in either format, with where in the file they were found.
public struct CheckpointContents: Sendable {
    public enum Format: String, Sendable {
        case torch = "torch zip (.pt/.pth)", safetensors = "safetensors", synthetic = "fssam-synth-v1 (generated)"
    }

    public let path: String
    public let format: Format
    /// Where the state dict sat: `root` (bare state dict, e.g. DINOv2 `.pth`), `model` (official
    /// SAM 2), `state_dict` (FSSAM training checkpoints), or `file` for safetensors.
    public let container: String
    /// In file order (pickle dict order, or safetensors data order).
    public let tensors: [SourceTensor]
    /// safetensors `__metadata__`; empty for torch files.
    public let metadata: [String: String]

    public var parameterCount: Int { tensors.reduce(0) { $0 + $1.elementCount } }

    /// Opens `path`, telling the format from its first bytes (a zip is a torch checkpoint).
    public static func open(path: String) throws -> CheckpointContents {
        let file = try MappedFile(path: path)
        let head = try file.withBytes(0..<min(9, file.count)) { Array($0) }
        if head.starts(with: [0x50, 0x4B, 0x03, 0x04]) { return try openTorch(path: path) }
        // A safetensors header is JSON right after its 8-byte length; that length's first byte may
        // well be 0x80 (a 128- or 384-byte header), so 0x80 means a legacy torch pickle only when
        // no JSON object follows.
        if head.first == 0x80, head.count < 9 || head[8] != UInt8(ascii: "{") { return try openTorch(path: path) }
        return try openSafetensors(path: path)
    }

    /// Generated weights laid out like a converted FSSAM checkpoint (`sam2.*` then `dino.*`);
    /// each tensor is generated when it is loaded.
    public static func synthetic(_ generator: SyntheticWeights, sam2: SAM2Config = .small, dinov2: DINOv2Config = .base) -> CheckpointContents {
        let specs = SAM2Keys.specs(sam2).map { ($0, ModelFamily.sam2.routedPrefix) } + DINOv2Keys.specs(dinov2).map { ($0, ModelFamily.dinov2.routedPrefix) }
        let tensors = specs.map { spec, prefix in
            SourceTensor(name: prefix + spec.name, dtype: .f32, shape: spec.shape) { try generator.tensor(key: spec.name, shape: spec.shape) }
        }
        return CheckpointContents(path: generator.description, format: .synthetic, container: "generated", tensors: tensors,
                                  metadata: ["weights": SyntheticWeights.version, "global_seed": String(generator.globalSeed)])
    }

    static func openSafetensors(path: String) throws -> CheckpointContents {
        let file = try SafetensorsFile(path: path)
        let tensors = file.entries.map { entry in
            SourceTensor(name: entry.name, dtype: entry.dtype, shape: entry.shape) { try file.tensor(entry.name) }
        }
        return CheckpointContents(path: path, format: .safetensors, container: "file", tensors: tensors, metadata: file.metadata)
    }

    static func openTorch(path: String) throws -> CheckpointContents {
        let checkpoint = try TorchCheckpoint(path: path)
        let root = checkpoint.root
        // FSSAM training checkpoints: {'epoch', 'state_dict', 'optimizer'}; official SAM 2: {'model': …};
        // DINOv2: the state dict itself.
        let container: String
        let stateDict: PickleValue
        if let value = root["state_dict"], value.dictEntries != nil {
            container = "state_dict"
            stateDict = value
        } else if let value = root["model"], value.dictEntries != nil {
            container = "model"
            stateDict = value
        } else {
            container = "root"
            stateDict = root
        }
        let what = container == "root" ? "the checkpoint's root object" : "the checkpoint's '\(container)' entry"
        let tensors = try checkpoint.tensors(of: stateDict, what: what).map { name, tensor in
            SourceTensor(name: name, dtype: tensor.dtype, shape: tensor.shape) { try tensor.float32() }
        }
        return CheckpointContents(path: path, format: .torch, container: container, tensors: tensors, metadata: [:])
    }
}

import Dispatch
import Tensor

/// Which network a set of weights belongs to.
public enum ModelFamily: String, Sendable, CaseIterable {
    case sam2, dinov2

    /// The prefix FSSAM's wrapper module gives each network (`self.sam2`, `self.dino`), and the one
    /// `fssam weights convert` writes.
    public var routedPrefix: String {
        switch self {
        case .sam2: "sam2."
        case .dinov2: "dino."
        }
    }
}

/// The weights of one network found in a checkpoint, renamed to the network's own key names.
public struct RoutedModel: Sendable {
    public let family: ModelFamily
    /// The prefix removed from the file's keys (`module.sam2.`, `sam2.`, or empty).
    public let sourcePrefix: String
    /// Tensors with model-relative names, in file order.
    public let tensors: [SourceTensor]
    /// The detected architecture, if the shapes match a known one.
    public let sam2Config: SAM2Config?
    public let dinov2Config: DINOv2Config?
    let source: String

    public var parameterCount: Int { tensors.reduce(0) { $0 + $1.elementCount } }

    /// The detected architecture's name (`sam2_hiera_s`, `dinov2_vitb14`), or nil.
    public var architecture: String? { sam2Config?.name ?? dinov2Config?.name }

    /// The key list the detected architecture expects, if one was detected.
    public var expectedSpecs: [TensorSpec]? {
        if let sam2Config { return SAM2Keys.specs(sam2Config) }
        if let dinov2Config { return DINOv2Keys.specs(dinov2Config) }
        return nil
    }

    /// How the keys differ from the detected architecture's (empty when they match exactly, nil when
    /// no architecture was detected).
    public func keyProblems() -> [String]? {
        expectedSpecs.map { TensorSpec.problems(actual: tensors.map { ($0.name, $0.shape) }, expected: $0) }
    }

    /// Converts every tensor to float32 (f16/bf16 exactly), several tensors at a time.
    public func stateDict() throws -> StateDict {
        let tensors = self.tensors
        let results = ParallelSlots<Result<Tensor, Error>>(count: tensors.count)
        DispatchQueue.concurrentPerform(iterations: tensors.count) { i in
            results.initialize(i, to: Result { try tensors[i].load() })
        }
        let loaded = try results.take().map { try $0.get() }
        return try StateDict(source: "\(source) [\(family.rawValue)]", zip(tensors, loaded).map { ($0.name, $1) })
    }
}

/// Routing of checkpoint keys to per-network state dicts. Handles:
/// - official `sam2_hiera_*.pt` (`{'model': state_dict}`, SAM 2 names),
/// - official `dinov2_vit*14_pretrain.pth` (bare state dict, DINOv2 names),
/// - FSSAM training checkpoints (`{'state_dict': …}` with `module.sam2.*` and `module.dino.*`; also
///   without `module.`, as after test.py's fallback),
/// - safetensors files of any of these, including `fssam weights convert` output (`sam2.*`, `dino.*`).
public struct RoutedCheckpoint: Sendable {
    public let contents: CheckpointContents
    public let models: [RoutedModel]
    /// Keys that belong to no network (e.g. extra heads of a combined file).
    public let unroutedKeys: [String]

    public func model(_ family: ModelFamily) -> RoutedModel? { models.first { $0.family == family } }

    /// The float32 state dict of `family`; an error if the checkpoint holds no such weights.
    public func stateDict(_ family: ModelFamily) throws -> StateDict {
        guard let model = model(family) else {
            throw CheckpointError(contents.path, "holds no \(family.rawValue) weights (found: \(models.map(\.family.rawValue).joined(separator: ", ")))")
        }
        return try model.stateDict()
    }

    /// Loads a checkpoint file, or generates the synthetic weights for `synthetic` / `synthetic:SEED`
    /// (SAM 2 Hiera-S + DINOv2 ViT-B/14, the fixtures' models).
    public static func load(path: String) throws -> RoutedCheckpoint {
        if let generator = try SyntheticWeights.parse(path) { return try route(CheckpointContents.synthetic(generator)) }
        return try route(CheckpointContents.open(path: path))
    }

    public static func route(_ contents: CheckpointContents) throws -> RoutedCheckpoint {
        let path = contents.path
        guard !contents.tensors.isEmpty else { throw CheckpointError(path, "contains no tensors") }
        // DDP wraps the model once: strip one leading `module.` wherever it appears.
        let tensors = contents.tensors.map { $0.name.hasPrefix("module.") ? $0.renamed(String($0.name.dropFirst(7))) : $0 }
        var seen = Set<String>()
        for t in tensors where !seen.insert(t.name).inserted {
            throw CheckpointError(path, "key '\(t.name)' occurs twice once 'module.' is removed")
        }
        let strippedModule = contents.tensors.contains { $0.name.hasPrefix("module.") }

        var models: [RoutedModel] = []
        var unrouted: [String] = []
        let combined = tensors.contains { $0.name.hasPrefix(ModelFamily.sam2.routedPrefix) || $0.name.hasPrefix(ModelFamily.dinov2.routedPrefix) }
        if combined {
            // FSSAM's wrapper: `sam2.*` and `dino.*` side by side (plus anything else it may hold).
            for family in ModelFamily.allCases {
                let prefix = family.routedPrefix
                let own = tensors.filter { $0.name.hasPrefix(prefix) }.map { $0.renamed(String($0.name.dropFirst(prefix.count))) }
                if !own.isEmpty {
                    models.append(makeModel(family, own, sourcePrefix: (strippedModule ? "module." : "") + prefix, source: path))
                }
            }
            unrouted = tensors.map(\.name).filter { !$0.hasPrefix(ModelFamily.sam2.routedPrefix) && !$0.hasPrefix(ModelFamily.dinov2.routedPrefix) }
        } else if let family = family(of: tensors) {
            models.append(makeModel(family, tensors, sourcePrefix: strippedModule ? "module." : "", source: path))
        } else {
            let sample = tensors.prefix(3).map(\.name).joined(separator: ", ")
            throw CheckpointError(path, "cannot tell which network its \(tensors.count) keys belong to (no sam2./dino. prefix, no SAM 2 image_encoder.trunk.* or DINOv2 cls_token/blocks.* keys; first keys: \(sample))")
        }
        return RoutedCheckpoint(contents: contents, models: models, unroutedKeys: unrouted)
    }

    /// A bare state dict's network, from key names that only one of them has.
    static func family(of tensors: [SourceTensor]) -> ModelFamily? {
        let names = Set(tensors.map(\.name))
        if names.contains(where: { $0.hasPrefix("image_encoder.trunk.") || $0.hasPrefix("sam_mask_decoder.") }) { return .sam2 }
        if names.contains("cls_token") && names.contains(where: { $0.hasPrefix("blocks.") }) { return .dinov2 }
        return nil
    }

    static func makeModel(_ family: ModelFamily, _ tensors: [SourceTensor], sourcePrefix: String, source: String) -> RoutedModel {
        switch family {
        case .sam2:
            RoutedModel(family: family, sourcePrefix: sourcePrefix, tensors: tensors, sam2Config: ArchitectureDetection.sam2(tensors), dinov2Config: nil, source: source)
        case .dinov2:
            RoutedModel(family: family, sourcePrefix: sourcePrefix, tensors: tensors, sam2Config: nil, dinov2Config: ArchitectureDetection.dinov2(tensors), source: source)
        }
    }
}

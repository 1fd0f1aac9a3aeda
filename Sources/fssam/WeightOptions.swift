import ArgumentParser
import Checkpoint
import Foundation
import Models
import Pipeline

/// Where the model weights come from; shared by every command that runs the model.
struct WeightOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The authors' fine-tuned FSSAM checkpoint (best_1shot.pth …), holding both models.",
                               valueName: "file"))
    var checkpoint: String?

    @Option(help: ArgumentHelp("An official SAM 2 checkpoint (sam2_hiera_*.pt or .safetensors); use with --dino.",
                               valueName: "file"))
    var sam2: String?

    @Option(help: ArgumentHelp("An official DINOv2 checkpoint (dinov2_vit*14_pretrain.pth or .safetensors); use with --sam2.",
                               valueName: "file"))
    var dino: String?

    @Option(help: ArgumentHelp("Deterministic synthetic weights 'synthetic' or 'synthetic:SEED' (fssam-synth-v1, for tests and demos).",
                               valueName: "synthetic[:seed]"))
    var weights: String?

    func validate() throws {
        let sources = [checkpoint != nil, sam2 != nil || dino != nil, weights != nil].filter { $0 }.count
        guard sources == 1 else {
            throw ValidationError("give exactly one weight source: --checkpoint FILE, or --sam2 FILE --dino FILE, or --weights synthetic[:SEED]")
        }
        if (sam2 == nil) != (dino == nil) { throw ValidationError("--sam2 and --dino go together") }
        if let weights, try SyntheticWeights.parse(weights) == nil {
            throw ValidationError("--weights takes 'synthetic' or 'synthetic:SEED'; for a file use --checkpoint")
        }
    }

    struct Loaded {
        var sam2: StateDict
        var dino: StateDict
        var description: String
    }

    func load() throws -> Loaded {
        if let checkpoint {
            let routed = try RoutedCheckpoint.load(path: checkpoint)
            return Loaded(sam2: try routed.stateDict(.sam2), dino: try routed.stateDict(.dinov2), description: checkpoint)
        }
        if let sam2, let dino {
            return Loaded(sam2: try RoutedCheckpoint.load(path: sam2).stateDict(.sam2),
                          dino: try RoutedCheckpoint.load(path: dino).stateDict(.dinov2), description: "\(sam2) + \(dino)")
        }
        let source = weights ?? "synthetic"
        let routed = try RoutedCheckpoint.load(path: source)
        return Loaded(sam2: try routed.stateDict(.sam2), dino: try routed.stateDict(.dinov2), description: source)
    }

    /// The model and its per-stage weight digests (the cache keys' weights part).
    func loadModel() throws -> (model: FSSAM, digests: StageWeightDigests) {
        let weights = try load()
        return (try FSSAM(sam2: weights.sam2, dino: weights.dino), try StageWeightDigests(sam2: weights.sam2, dino: weights.dino))
    }
}

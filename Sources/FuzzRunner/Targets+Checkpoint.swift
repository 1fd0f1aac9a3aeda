import Checkpoint
import Foundation

// Fuzz targets for the checkpoint readers (pickle / zip / safetensors). Each reads its input as a
// file of the right extension from `scratch`, and goes as far as the commands do: every tensor is
// listed and loaded as float32, as `fssam weights inspect|convert` and `--checkpoint` do.
extension FuzzTarget {
    static let checkpointTargets: [FuzzTarget] = [
        // Raw pickle bytes through the restricted unpickler with its default limits. A persistent
        // id (storage reference) is refused: storages need an archive, which `torch-zip` covers.
        FuzzTarget(name: "pickle") { input, _ in
            _ = try Unpickler(data: input, source: "fuzz.pkl") { key, _, _ in
                throw CheckpointError("fuzz.pkl", "storage '\(key)': no archive in this target")
            }.load()
        },
        FuzzTarget(name: "torch-zip") { input, scratch in
            let path = try write(input, to: scratch, name: "w.pt")
            try loadEveryTensor(of: try RoutedCheckpoint.load(path: path))
        },
        FuzzTarget(name: "safetensors") { input, scratch in
            let path = try write(input, to: scratch, name: "w.safetensors")
            let file = try SafetensorsFile(path: path)
            for name in file.names { _ = try file.tensor(name) }
            try loadEveryTensor(of: try RoutedCheckpoint.load(path: path))
        },
    ]

    /// What `weights inspect` reads (routing, key problems) and `weights convert` loads (every tensor).
    static func loadEveryTensor(of routed: RoutedCheckpoint) throws {
        for model in routed.models { _ = model.keyProblems() }
        for tensor in routed.contents.tensors { _ = try tensor.load() }
    }

    /// Writes `input` as `scratch/name` and returns the path.
    static func write(_ input: [UInt8], to scratch: String, name: String) throws -> String {
        let path = scratch + "/" + name
        try Data(input).write(to: URL(fileURLWithPath: path))
        return path
    }
}

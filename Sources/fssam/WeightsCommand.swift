import ArgumentParser
import Checkpoint
import Foundation

/// `fssam weights …`: look inside checkpoints and convert them to safetensors.
struct WeightsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weights",
        abstract: "Inspect and convert model checkpoints (.pt/.pth, .safetensors, or 'synthetic[:SEED]').",
        subcommands: [Inspect.self, Convert.self])

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List a checkpoint's tensors (name, dtype, shape), parameter counts and the detected SAM 2 / DINOv2 architectures.")

        @Argument(help: "A .pt/.pth (torch zip) or .safetensors file, or 'synthetic[:SEED]'.")
        var file: String

        @Flag(help: "Print a JSON report instead of text.")
        var json = false

        func run() throws {
            let routed = try RoutedCheckpoint.load(path: file)
            let report = WeightsReport(routed)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                encoder.keyEncodingStrategy = .convertToSnakeCase
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
            } else {
                print(report.text)
            }
        }
    }

    struct Convert: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a checkpoint's tensors as float32 safetensors.",
            discussion: """
                --layout routed (default) writes each recognised network under FSSAM's own prefixes, \
                'sam2.' and 'dino.', with any DDP 'module.' removed and unrouted keys left out. \
                --layout as-is keeps every key of the state dict unchanged. Either way the output \
                is float32 (f16/bf16 widened exactly, integers rounded where float32 cannot hold them).
                """)

        enum Layout: String, ExpressibleByArgument, CaseIterable {
            case routed
            case asIs = "as-is"
        }

        @Argument(help: "Input checkpoint (.pt/.pth, .safetensors) or 'synthetic[:SEED]'.")
        var input: String

        @Argument(help: "Output .safetensors path.")
        var output: String

        @Option(help: "routed: 'sam2.'/'dino.' prefixes; as-is: the input's key names.")
        var layout: Layout = .routed

        @Flag(help: "Replace OUTPUT if it exists.")
        var force = false

        func validate() throws {
            guard output.hasSuffix(".safetensors") else { throw ValidationError("OUTPUT must end in .safetensors") }
        }

        func run() throws {
            guard force || !FileManager.default.fileExists(atPath: output) else {
                throw ValidationError("\(output) exists; pass --force to replace it")
            }
            let routed = try RoutedCheckpoint.load(path: input)
            var metadata = [
                "format": "pt",
                "fssam.converted_from": (input as NSString).lastPathComponent,
                "fssam.layout": layout.rawValue,
            ]
            for model in routed.models {
                metadata["fssam.\(model.family.rawValue).architecture"] = model.architecture ?? "unknown"
            }
            if let synth = routed.contents.metadata["weights"] { metadata["fssam.weights"] = synth }
            let tensors: [SourceTensor]
            switch layout {
            case .routed:
                tensors = routed.models.flatMap { model in model.tensors.map { $0.renamed(model.family.routedPrefix + $0.name) } }
            case .asIs:
                tensors = routed.contents.tensors
            }
            try SafetensorsWriter.write(tensors, metadata: metadata, to: output)
            let parameters = tensors.reduce(0) { $0 + $1.elementCount }
            switch layout {
            case .routed:
                let parts = routed.models.map { "\($0.family.rawValue) → '\($0.family.routedPrefix)' (\($0.tensors.count) tensors, from '\($0.sourcePrefix)', \($0.architecture ?? "architecture unknown"))" }
                print("wrote \(output): \(tensors.count) float32 tensors, \(parameters.formatted()) parameters, routed with prefixes: \(parts.joined(separator: "; "))")
                if !routed.unroutedKeys.isEmpty {
                    print("left out \(routed.unroutedKeys.count) unrouted key(s): \(routed.unroutedKeys.prefix(10).joined(separator: ", "))\(routed.unroutedKeys.count > 10 ? ", …" : "")")
                }
            case .asIs:
                print("wrote \(output): \(tensors.count) float32 tensors, \(parameters.formatted()) parameters, keys as in the input (no prefix change)")
            }
        }
    }
}

/// What `fssam weights inspect` reports; the JSON form is this struct encoded.
struct WeightsReport: Encodable {
    struct TensorEntry: Encodable {
        let name: String
        let dtype: String
        let shape: [Int]
    }

    struct Model: Encodable {
        let family: String
        let sourcePrefix: String
        let routedPrefix: String
        let architecture: String?
        let tensorCount: Int
        let parameterCount: Int
        /// nil when no architecture was detected; empty when the keys match it exactly.
        let keyProblems: [String]?

        enum CodingKeys: String, CodingKey {
            case family, sourcePrefix, routedPrefix, architecture, tensorCount, parameterCount, keyProblems
        }

        // Written out so that an undetected architecture is an explicit null, not a missing field.
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(family, forKey: .family)
            try c.encode(sourcePrefix, forKey: .sourcePrefix)
            try c.encode(routedPrefix, forKey: .routedPrefix)
            try c.encode(architecture, forKey: .architecture)
            try c.encode(tensorCount, forKey: .tensorCount)
            try c.encode(parameterCount, forKey: .parameterCount)
            try c.encode(keyProblems, forKey: .keyProblems)
        }
    }

    let file: String
    let format: String
    let container: String
    let tensorCount: Int
    let parameterCount: Int
    let dtypes: [String: Int]
    let models: [Model]
    let unroutedKeys: [String]
    let metadata: [String: String]
    let tensors: [TensorEntry]

    init(_ routed: RoutedCheckpoint) {
        let contents = routed.contents
        file = contents.path
        format = contents.format.rawValue
        container = contents.container
        tensorCount = contents.tensors.count
        parameterCount = contents.parameterCount
        dtypes = contents.tensors.reduce(into: [:]) { $0[$1.dtype.rawValue, default: 0] += 1 }
        models = routed.models.map { model in
            Model(family: model.family.rawValue, sourcePrefix: model.sourcePrefix, routedPrefix: model.family.routedPrefix,
                  architecture: model.architecture, tensorCount: model.tensors.count, parameterCount: model.parameterCount,
                  keyProblems: model.keyProblems())
        }
        unroutedKeys = routed.unroutedKeys
        metadata = contents.metadata
        tensors = contents.tensors.map { TensorEntry(name: $0.name, dtype: $0.dtype.rawValue, shape: $0.shape) }
    }

    var text: String {
        var lines = [
            "file:       \(file)",
            "format:     \(format)" + (container == "root" ? ", bare state dict" : container == "file" || container == "generated" ? "" : ", state dict under '\(container)'"),
            "tensors:    \(tensorCount) (\(dtypes.keys.sorted().map { "\($0) \(dtypes[$0]!)" }.joined(separator: ", ")))",
            "parameters: \(parameterCount.formatted())",
        ]
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) { lines.append("metadata:   \(key) = \(value)") }
        for model in models {
            var line = "\(model.family): \(model.tensorCount) tensors, \(model.parameterCount.formatted()) parameters, keys '\(model.sourcePrefix)*'"
            if let architecture = model.architecture {
                let problems = model.keyProblems ?? []
                line += ", architecture \(architecture)" + (problems.isEmpty ? " (keys and shapes match exactly)" : " (\(problems.count) key problem(s): \(problems.prefix(3).joined(separator: "; ")))")
            } else {
                line += ", architecture not recognised"
            }
            lines.append(line)
        }
        if !unroutedKeys.isEmpty { lines.append("unrouted:   \(unroutedKeys.count) key(s) belong to neither network") }
        lines.append("")
        let width = tensors.map { "[\($0.shape.map(String.init).joined(separator: ","))]".count }.max() ?? 0
        for tensor in tensors {
            let shape = "[\(tensor.shape.map(String.init).joined(separator: ","))]"
            lines.append("\(tensor.dtype.padding(toLength: 5, withPad: " ", startingAt: 0)) \(shape.padding(toLength: width, withPad: " ", startingAt: 0))  \(tensor.name)")
        }
        return lines.joined(separator: "\n")
    }
}

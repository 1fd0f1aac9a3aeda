import ArgumentParser
import Checkpoint
import Foundation
import Models
import Pipeline
import Tensor

/// `fssam episode`: segment one query image from k annotated support examples.
struct EpisodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "episode",
        abstract: "Segment one query image from k support examples (image + mask).",
        discussion: """
            Support masks are single-channel images of their image's size: nonzero = target (0/1 and 0/255 both \
            work); --ignore-value V makes pixels equal to V ignore (background for the model). The i-th --support \
            is model support i (the one the 'released' k-shot calibration uses is the first).

            Example:
              fssam episode --support cat1.jpg cat1.png --support cat2.jpg cat2.png --query q.jpg --out q-mask.png \\
                --checkpoint best_1shot.pth --timings
            """)

    @OptionGroup var supportOptions: SupportOptions

    @Option(help: ArgumentHelp("The query image.", valueName: "image"))
    var query: String

    @Option(help: ArgumentHelp("Where to write the binary mask (0/255 PNG at the query's size).", valueName: "file.png"))
    var out: String

    @OptionGroup var weightOptions: WeightOptions

    @Option(help: "Iterative Memory Refinement iterations, \(OptionRange.text(OptionRange.numRefine)) (the paper uses 3).")
    var numRefine: Int = 3

    @Option(help: "k-shot calibration: 'released' (what the released 5-shot code does) or 'paper' (Eq. 12-14). Identical for k = 1.")
    var calibration: String = SupportCalibration.released.rawValue

    @Option(help: ArgumentHelp("Write every intermediate tensor, named as in the reference fixtures, to DIR/intermediates.safetensors.",
                               valueName: "dir"))
    var dump: String?

    @Flag(help: "Print the time of each stage.")
    var timings = false


    func validate() throws {
        try OptionRange.check(numRefine, OptionRange.numRefine, option: "num-refine")
        guard SupportCalibration(rawValue: calibration) != nil else {
            throw ValidationError("--calibration must be one of \(SupportCalibration.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard out.lowercased().hasSuffix(".png") else { throw ValidationError("--out must name a .png file") }
    }

    func run() throws {
        supportOptions.applyThreads()
        // Where the results go is checked first: a wrong path must not cost a model run.
        try OutputLocation.prepareFile(out, for: "--out \(out)")
        if let dump { try OutputLocation.prepareDirectory(dump, for: "--dump \(dump)") }
        let clock = StageClock()
        let (files, ignoreValue) = try supportOptions.resolved()
        // Inputs first: a bad support must stop us before the (slow) weight loading.
        let episode = try clock.measure("decode") {
            try Episode.load(query: query, supports: files, ignoreValue: ignoreValue, decoder: supportOptions.decoder)
        }
        let model = try clock.measure("load_weights") {
            let weights = try weightOptions.load()
            return try FSSAM(sam2: weights.sam2, dino: weights.dino)
        }
        var dumped: [(String, Tensor)] = []
        let options = FSSAM.Options(refineIterations: numRefine, calibration: SupportCalibration(rawValue: calibration)!)
        let result = try episode.run(model, options: options, clock: clock,
                                     trace: dump == nil ? nil : { name, tensor in dumped.append((name, tensor)) })
        try clock.measure("write") { try AtomicFile.write(try episode.png(result), to: out) }
        if let dump {
            try SafetensorsWriter.write(dumped, metadata: ["producer": "fssam episode", "calibration": calibration,
                                                           "num_refine": "\(numRefine)"],
                                        to: dump + "/intermediates.safetensors")
        }
        let area = result.mask.reduce(0) { $0 + Int($1) }
        print("\(out): \(episode.queryWidth)x\(episode.queryHeight), \(area) target pixels (\(String(format: "%.1f", 100 * Double(area) / Double(result.mask.count)))%), \(files.count)-shot")
        if timings {
            let entries = clock.entries
            let total = entries.reduce(0) { $0 + $1.seconds }
            for entry in entries + [("total", total)] {
                let name = entry.0.padding(toLength: 14, withPad: " ", startingAt: 0)
                print("  \(name) \(String(format: "%8.3f", entry.1)) s")
            }
        }
    }
}

import ArgumentParser
import Foundation
import Models
import Pipeline
import StageCache
import Tensor

/// `fssam eval`: the PASCAL-5i / COCO-20i protocol (spec §4) through the stage cache.
struct EvalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate few-shot segmentation on PASCAL-5i or COCO-20i (mIoU, FB-IoU), cached per stage.",
        discussion: """
            Layout (spec 4.6): --root is the data folder holding VOCdevkit2012/VOC2012/{JPEGImages,SegmentationClassAug} \
            or MSCOCO2014/{val2014,annotations/val2014}; the lists are read from LISTS/<dataset>/fss_list/val/ \
            (data_list_<fold>.txt, sub_class_file_list_<fold>.txt), LISTS defaulting to ROOT/../FSSAM/lists. List paths \
            '../data/X' mean ROOT/X. Without list files they are built from the label PNGs (a class counts from \
            2048 pixels) and written to OUT/lists.

            Episodes follow the authors' rules with our own seeded generator (SplitMix64); --write-episodes saves them \
            as JSON lines and --episode-list replays such a file. --sweep evaluates several values of one IMR / SCMA \
            parameter, computing every stage upstream of IMR once per episode.

            Examples:
              fssam eval --dataset pascal --root ../data --fold 0 --shots 1 --checkpoint best_1shot.pth --out eval-f0
              fssam eval --dataset pascal --root ../data --fold 0 --sweep imr.iterations=1,2,3,4 --checkpoint best_1shot.pth
            """)

    @Option(help: ArgumentHelp("pascal or coco.", valueName: "name"))
    var dataset: String

    @Option(help: ArgumentHelp("The data folder (spec 4.6's <parent>/data).", valueName: "dir"))
    var root: String

    @Option(help: ArgumentHelp("The authors' lists folder (default: ROOT/../FSSAM/lists).", valueName: "dir"))
    var lists: String?

    @Option(help: "Fold 0…3.")
    var fold: Int

    @Option(help: "Support examples per episode, \(OptionRange.text(OptionRange.shots)).")
    var shots: Int = 1

    @Option(help: "Number of episodes, \(OptionRange.text(OptionRange.episodes)) (queries cycle through the fold's list in order).")
    var episodes: Int = 1000

    @Option(help: "Seed of the episode generator.")
    var seed: UInt64 = 321

    @Option(help: ArgumentHelp("Evaluate exactly these episodes (JSON lines, as --write-episodes writes).", valueName: "file"))
    var episodeList: String?

    @Option(help: ArgumentHelp("Write the episodes (query, class, supports in model order) as JSON lines.", valueName: "file"))
    var writeEpisodes: String?

    @Option(help: ArgumentHelp("Evaluate several values of one parameter, e.g. imr.iterations=1,2,3,4.",
                               valueName: "stage.param=v1,v2,…"))
    var sweep: String?

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a stage parameter, e.g. imr.iterations=2 (repeatable).",
                                                         valueName: "stage.param=value"))
    var overrides: [String] = []

    @Option(help: ArgumentHelp("Output folder: report.json, report.txt (and lists/ when built).", valueName: "dir"))
    var out: String?

    @Flag(help: "Print the report as JSON instead of a table.")
    var json = false

    @Option(help: ArgumentHelp("Write each episode's prediction (0/255 PNG at the original size) and episodes.jsonl here.",
                               valueName: "dir"))
    var savePredictions: String?

    @Option(help: ArgumentHelp("Cache directory (default: $FSSAM_CACHE, else ./Cache).", valueName: "dir"))
    var cache: String?

    @Option(help: "Refuse images with more pixels than this (decompression bombs), \(OptionRange.text(OptionRange.maxPixels)).")
    var maxPixels: Int = ImageDecoder.defaultMaxPixels

    @Option(help: "Compute threads, \(OptionRange.text(OptionRange.threads)) (default: all cores).")
    var threads: Int?

    @OptionGroup var weightOptions: WeightOptions

    func validate() throws {
        guard EvalDataset(rawValue: dataset) != nil else { throw ValidationError("--dataset takes pascal or coco") }
        guard (0...3).contains(fold) else { throw ValidationError("--fold takes 0, 1, 2 or 3") }
        try OptionRange.check(shots, OptionRange.shots, option: "shots")
        try OptionRange.check(episodes, OptionRange.episodes, option: "episodes")
        if let threads { try OptionRange.check(threads, OptionRange.threads, option: "threads") }
        try OptionRange.check(maxPixels, OptionRange.maxPixels, option: "max-pixels")
    }

    func run() async throws {
        do { try await execute() } catch let e as ExitCode { throw e } catch {
            FileHandle.standardError.write(Data("fssam eval: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }

    private func execute() async throws {
        if let threads { ComputeThreads.count = threads }
        let dataset = EvalDataset(rawValue: dataset)!
        let layout = DatasetLayout(dataset: dataset, root: root, lists: lists)
        let decoder = ImageDecoder(maxPixels: maxPixels)
        let settings = try EvalSetting.sweep(sweep, base: try overrides.map { try PipelineOverride.parse($0) })
        // Output places first, in plain words: a wrong path must not cost an evaluation.
        if let out { try OutputLocation.prepareDirectory(out, for: "--out \(out)") }
        if let savePredictions { try OutputLocation.prepareDirectory(savePredictions, for: "--save-predictions \(savePredictions)") }
        if let writeEpisodes { try OutputLocation.prepareFile(writeEpisodes, for: "--write-episodes \(writeEpisodes)") }

        // Lists, episodes and file checks before the weights load: bad input fails in seconds.
        let plan = try EvalPlan(layout: layout, fold: fold, shots: shots, count: episodes, seed: seed,
                                episodeList: episodeList, decoder: decoder)
        if let writeEpisodes { try EpisodeListFile.write(plan.episodes, to: writeEpisodes) }
        if let out {
            if plan.builtLists, let built = plan.lists {
                try built.write(to: DatasetLayout(dataset: dataset, root: root, lists: out + "/lists"), fold: fold)
            }
        }

        let directory = try cacheDirectory(cache)  // checked before the slow weight loading; CacheStore creates it
        let (model, digests) = try weightOptions.loadModel()
        let store = try CacheStore(directory: directory)
        let predictor = ModelPredictor(model: model, weights: digests, store: store, parameters: settings[0].parameters)
        let runner = EvalRunner(layout: layout, classes: dataset.foldClasses(fold), settings: settings, predictor: predictor,
                                decoder: decoder, predictionsDirectory: savePredictions)
        let started = DispatchTime.now().uptimeNanoseconds
        let outcome: EvalRunner.Outcome
        do {
            outcome = try await runner.run(plan.episodes) { done, total in
                if done % 50 == 0 || done == total {
                    FileHandle.standardError.write(Data("fssam eval: \(done)/\(total) episodes\n".utf8))
                }
            }
            try await store.flushAndClose()
        } catch {
            try? await store.flushAndClose()
            throw error
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        let report = EvalReport(dataset: dataset, fold: fold, shots: shots, seed: episodeList == nil ? seed : nil,
                                episodes: plan.episodes.count, listsBuilt: plan.builtLists, settings: settings, outcome: outcome)
        let json = try report.json()
        let table = report.table + "\n\n" + Self.render(predictor.counters) + String(format: "\nmodel time %.2f s\n", seconds)
        if let out {
            try AtomicFile.write(json, to: out + "/report.json")
            try AtomicFile.write(Array(report.table.utf8) + [10], to: out + "/report.txt")
        }
        if self.json {
            FileHandle.standardOutput.write(Data(json))
            FileHandle.standardError.write(Data(table.utf8))
        } else {
            print(table, terminator: "")
        }
        if !outcome.failed.isEmpty { throw ExitCode(2) }
    }

    static func render(_ counters: StageCounters) -> String {
        var lines = ["  stage                  computed      hits"]
        for side in [StageCounters.Side.support, .query] {
            for stage in FSSAMStage.all.map(\.name) {
                let c = counters.computed(stage, side), h = counters.hits(stage, side)
                guard c + h > 0 else { continue }
                let name = "\(side.rawValue).\(stage)".padding(toLength: 22, withPad: " ", startingAt: 0)
                lines.append("  \(name) \(String(format: "%8d  %8d", c, h))")
            }
        }
        return lines.joined(separator: "\n")
    }
}

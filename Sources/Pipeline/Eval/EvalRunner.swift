import Foundation
import Models
import StageCache
import Tensor

/// One parameter set of an evaluation, named for reports and prediction folders.
public struct EvalSetting: Sendable {
    /// `default`, or the swept `stage.param=value`.
    public var name: String
    public var parameters: RunParameters

    public init(name: String, parameters: RunParameters) {
        self.name = name
        self.parameters = parameters
    }

    /// `--sweep stage.param=v1,v2,…` on top of `base` overrides: one setting per value. Every
    /// image's encoder features persist (`RunParameters.persistingEncoderFeatures`).
    public static func sweep(_ text: String?, base: [PipelineOverride]) throws -> [EvalSetting] {
        guard let text else { return [EvalSetting(name: "default", parameters: try RunParameters(overrides: base).persistingEncoderFeatures())] }
        let sweep = try PipelineOverride.parse(text)
        let values = sweep.value.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard !values.isEmpty, !values.contains(where: \.isEmpty) else {
            throw PipelineError("--sweep \(text)", "expected stage.param=v1,v2,… with no empty value")
        }
        guard Set(values).count == values.count else { throw PipelineError("--sweep \(text)", "a value is repeated") }
        return try values.map { value in
            let one = try PipelineOverride.parse("\(sweep.stage).\(sweep.parameter)=\(value)")
            return EvalSetting(name: one.text, parameters: try RunParameters(overrides: base + [one]).persistingEncoderFeatures())
        }
    }
}

/// An episode that could not be evaluated: which, what, why. It is left out of the metrics.
public struct FailedEpisode: Sendable, Equatable, Codable {
    public var episode: Int
    public var subject: String
    public var reason: String
}

/// Runs episodes, accumulates the metrics per setting and writes the predictions.
///
/// Bad input policy: problems in the lists or the episode files stop the evaluation before any
/// model work (`EvalPlan`), so do missing files. A file that exists but cannot be decoded, a
/// label whose size differs from its image, or a model error fails that episode only: it is
/// recorded (report `failed`), left out of every metric, and the exit status says so. Only the
/// cache failing stops a started evaluation.
public final class EvalRunner {
    public let classes: [Int]
    public let settings: [EvalSetting]
    public let predictor: EvalPredictor
    public let decoder: ImageDecoder
    public let layout: DatasetLayout
    /// `--save-predictions`: `<dir>/<setting>/episode-<n>.png` (0/255 at the original size; no
    /// setting folder for a single setting) and `<dir>/episodes.jsonl`.
    public let predictionsDirectory: String?

    public init(layout: DatasetLayout, classes: [Int], settings: [EvalSetting], predictor: EvalPredictor,
                decoder: ImageDecoder = ImageDecoder(), predictionsDirectory: String? = nil) {
        self.layout = layout
        self.classes = classes
        self.settings = settings
        self.predictor = predictor
        self.decoder = decoder
        self.predictionsDirectory = predictionsDirectory
    }

    public struct Outcome: Sendable {
        /// One per setting, in setting order.
        public var metrics: [EvalMetrics]
        /// The failed episodes in index order, the first `maxListedFailures` of them.
        public var failed: [FailedEpisode]
        /// Per episode index, one count per setting (succeeded episodes only); kept only when
        /// `recordsEpisodeCounts` (tests), since it grows with the episodes.
        public var counts: [Int: [EpisodeCounts]]
        /// How many episodes failed, listed or not.
        public var failedCount = 0
    }

    /// Failed episodes kept for the report; beyond this only their number is (an evaluation where
    /// every one of 10^7 episodes fails must not hold 10^7 reasons).
    public static let maxListedFailures = 10_000

    /// Episodes are run in windows of this many, each window grouped by query: memory is bounded
    /// whatever the number of episodes, and the episodes of a query within a window run back to
    /// back (the predictor keeps that query's features). 4096 windows hold every episode of a
    /// query for lists shorter than that (PASCAL folds, COCO's 1000 episodes).
    public static let windowSize = 4096

    public var recordsEpisodeCounts = false

    /// Runs every episode of `episodes`. The metric sums are integers, so the processing order
    /// does not change any figure.
    public func run(_ episodes: [EvalEpisode], progress: ((Int, Int) -> Void)? = nil) async throws -> Outcome {
        try await run(EpisodeSource.list(episodes.sorted { $0.index < $1.index }), progress: progress)
    }

    public func run(_ source: EpisodeSource, progress: ((Int, Int) -> Void)? = nil) async throws -> Outcome {
        if let predictionsDirectory {
            try EpisodeListFile.write(source, to: predictionsDirectory + "/episodes.jsonl")
        }
        var outcome = Outcome(metrics: settings.map { _ in EvalMetrics(classes: classes) }, failed: [], counts: [:])
        var iterator = source.makeIterator()
        var done = 0
        var window: [EvalEpisode] = []
        var exhausted = false
        while !exhausted {
            window.removeAll(keepingCapacity: true)
            while window.count < Self.windowSize {
                guard let draw = try iterator.next() else { exhausted = true; break }
                switch draw {
                case .episode(let episode): window.append(episode)
                case .failed(let failure):
                    record(failure, in: &outcome)
                    done += 1
                    progress?(done, source.count)
                }
            }
            for episode in Self.groupedByQuery(window) {
                try await run(episode, into: &outcome)
                done += 1
                progress?(done, source.count)
            }
        }
        predictor.queryFinished()
        outcome.failed.sort { $0.episode < $1.episode }
        if outcome.failed.count > Self.maxListedFailures { outcome.failed.removeLast(outcome.failed.count - Self.maxListedFailures) }
        return outcome
    }

    /// `window` with each query's episodes back to back, queries in order of first appearance.
    static func groupedByQuery(_ window: [EvalEpisode]) -> [EvalEpisode] {
        var firstSeen: [ImagePair: Int] = [:]
        for (i, e) in window.enumerated() where firstSeen[e.query] == nil { firstSeen[e.query] = i }
        return window.enumerated().sorted {
            let a = firstSeen[$0.element.query]!, b = firstSeen[$1.element.query]!
            return a != b ? a < b : $0.offset < $1.offset
        }.map(\.element)
    }

    private var currentQuery: ImagePair?

    private func run(_ episode: EvalEpisode, into outcome: inout Outcome) async throws {
        if let c = currentQuery, c != episode.query { predictor.queryFinished() }
        currentQuery = episode.query
        do {
            let inputs = try prepare(episode)
            let masks: [[UInt8]]
            do { masks = try await predictor.masks(inputs, settings: settings.map(\.parameters)) } catch let e as CacheError {
                throw e
            } catch {
                throw PipelineError("model", "\(error)")
            }
            var counts: [EpisodeCounts] = []
            for (s, mask) in masks.enumerated() {
                let c = EpisodeCounts(prediction: mask, target: inputs.target)
                counts.append(c)
                try save(mask, width: inputs.queryWidth, height: inputs.queryHeight, episode: episode.index, setting: s)
            }
            for (s, c) in counts.enumerated() { outcome.metrics[s].add(c, classID: episode.classID) }
            if recordsEpisodeCounts { outcome.counts[episode.index] = counts }
        } catch let e as CacheError {
            throw e
        } catch let e as PipelineError {
            record(FailedEpisode(episode: episode.index, subject: e.subject, reason: e.reason), in: &outcome)
        } catch {
            record(FailedEpisode(episode: episode.index, subject: episode.query.image, reason: "\(error)"), in: &outcome)
        }
    }

    /// Keeps the `maxListedFailures` lowest-numbered failures (windows run out of index order).
    private func record(_ failure: FailedEpisode, in outcome: inout Outcome) {
        outcome.failedCount += 1
        outcome.failed.append(failure)
        if outcome.failed.count > 2 * Self.maxListedFailures {
            outcome.failed.sort { $0.episode < $1.episode }
            outcome.failed.removeLast(outcome.failed.count - Self.maxListedFailures)
        }
    }

    /// Decodes and prepares one episode exactly as the authors' loader (spec §3, §4.3).
    public func prepare(_ episode: EvalEpisode) throws -> EvalInputs {
        let (queryImage, queryLabel) = try decodePair(episode.query, role: "query")
        var supports: [FSSAM.SupportInput] = []
        for (i, pair) in episode.supports.enumerated() {
            let (image, label) = try decodePair(pair, role: "support \(i + 1)")
            let binary = EvalLabel.binarised(label, classID: episode.classID)
            supports.append(FSSAM.SupportInput(image: ModelInput.image(image),
                                               label: EvalLabel.modelSize(binary, width: label.width, height: label.height)))
        }
        return EvalInputs(episode: episode, query: ModelInput.image(queryImage), queryWidth: queryImage.width,
                          queryHeight: queryImage.height, target: EvalLabel.binarised(queryLabel, classID: episode.classID),
                          supports: supports)
    }

    func decodePair(_ pair: ImagePair, role: String) throws -> (RGBImage, LabelImage) {
        let imagePath = layout.resolve(pair.image), labelPath = layout.resolve(pair.label)
        let image: RGBImage, label: LabelImage
        do { image = try decoder.decodeFile(imagePath) } catch { throw PipelineError(imagePath, "\(role) image: \(error)") }
        do { label = try decoder.decodeLabelFile(labelPath) } catch { throw PipelineError(labelPath, "\(role) label: \(error)") }
        guard image.width == label.width, image.height == label.height else {
            throw PipelineError(labelPath, "\(role) label is \(label.width)x\(label.height) but its image is \(image.width)x\(image.height)")
        }
        return (image, label)
    }

    func save(_ mask: [UInt8], width: Int, height: Int, episode: Int, setting: Int) throws {
        guard let predictionsDirectory else { return }
        let png = try ImageEncoder.png(width: width, height: height, bands: 1, pixels: mask.map { $0 == 0 ? 0 : 255 })
        try AtomicFile.write(png, to: predictionPath(predictionsDirectory, episode: episode, setting: setting))
    }

    public func predictionPath(_ directory: String, episode: Int, setting: Int) -> String {
        let folder = settings.count == 1 ? directory : directory + "/" + settings[setting].name
        return folder + "/" + String(format: "episode-%05d.png", episode)
    }
}

/// Everything decided before model work: the lists (read, or built from labels) and the
/// episodes (drawn, or read from a file), checked against the fold and the file system.
///
/// Drawn episodes are not kept: `episodes` generates them again for each pass (this check, the
/// episode files, the run), so 10^7 episodes take the memory of the lists, not of the episodes.
public struct EvalPlan {
    public var lists: EvalLists?
    /// Whether the lists were built from the label images (no list files found).
    public var builtLists = false
    public var episodes: EpisodeSource

    /// Far above any benchmark (PASCAL uses 1000, COCO 1000 or 20000): a larger count is a typo,
    /// and would spend hours generating episodes before saying so.
    public static let maxEpisodes = 100_000_000

    public init(layout: DatasetLayout, fold: Int, shots: Int, count: Int, seed: UInt64, episodeList: String?,
                decoder: ImageDecoder = ImageDecoder()) throws {
        let classes = layout.dataset.foldClasses(fold)
        if let episodeList {
            episodes = .list(try EpisodeListFile.read(episodeList, classes: classes, shots: shots, layout: layout)
                .sorted { $0.index < $1.index })
        } else {
            guard (1...Self.maxEpisodes).contains(count) else {
                throw PipelineError("--episodes \(count)", "must be between 1 and \(Self.maxEpisodes)")
            }
            let lists: EvalLists
            let dataList = layout.dataListFile(fold: fold), pools = layout.classPoolFile(fold: fold)
            let haveData = FileManager.default.fileExists(atPath: dataList), havePools = FileManager.default.fileExists(atPath: pools)
            if haveData && havePools {
                lists = try EvalLists.load(dataList: dataList, classPools: pools, layout: layout)
                try lists.validate(classes: classes, file: pools)
            } else if !haveData && !havePools {
                lists = try EvalListBuilder(layout: layout, decoder: decoder).build(fold: fold)
                builtLists = true
            } else {
                throw PipelineError(haveData ? pools : dataList, "missing (its companion list exists; give both or neither)")
            }
            // An unreadable query label fails the episodes of that query only (as an unreadable
            // image does); the sampler reports them as failed draws.
            let sampler = EpisodeSampler(lists: lists, classes: classes, shots: shots) { q in
                let path = layout.resolve(lists.queries[q].label)
                let label: LabelImage
                do { label = try decoder.decodeLabelFile(path) } catch { throw PipelineError(path, "query label: \(error)") }
                return EpisodeSampler.classes(in: label, fold: classes)
            }
            episodes = .sampled(sampler, count: count, seed: seed)
            self.lists = lists
        }
        try Self.checkFilesExist(episodes, layout: layout)
    }

    /// One pass over the episodes before any model work: generation errors (a class without
    /// enough supports) and missing files stop here. Memory: the set of distinct paths.
    static func checkFilesExist(_ episodes: EpisodeSource, layout: DatasetLayout) throws {
        var checked = Set<String>()
        var missing: [String] = []
        var iterator = episodes.makeIterator()
        while let draw = try iterator.next() {
            guard let e = draw.episode else { continue }
            for pair in [e.query] + e.supports {
                for listed in [pair.image, pair.label] where checked.insert(listed).inserted {
                    if !FileManager.default.fileExists(atPath: layout.resolve(listed)) { missing.append(layout.resolve(listed)) }
                }
            }
        }
        guard missing.isEmpty else {
            throw PipelineError(missing[0], "missing" + (missing.count > 1 ? " (and \(missing.count - 1) more file(s) the episodes need)" : "")
                                + "; check --root and --lists")
        }
    }
}

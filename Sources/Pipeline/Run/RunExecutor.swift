import Foundation
import Models
import StageCache
import Tensor

/// What `fssam run` does, fixed before the first item.
public struct RunConfiguration: Sendable {
    public var supports: [Episode.SupportFiles]
    public var ignoreValue: UInt16?
    public var parameters: RunParameters
    /// `--out`: masks go to `masks/…` (MaskFileLayout), reports beside them.
    public var outputDirectory: String
    public var maxPixels: Int
    /// The pipeline file's name, recorded in `run.json`.
    public var pipelineName = "fssam"
    /// Also write `overlays/<id>.png` (image with the mask tinted) and `probabilities/<id>.png`
    /// (8-bit target probability at the original size).
    public var overlays = false
    public var probabilities = false
    /// `category_id` of every entry in `predictions.json`.
    public var categoryID = 1
    /// How many items are decoded ahead of the model, and how many finished items may still be
    /// writing behind it: bounded, so memory does not grow with the dataset.
    public var inFlight = 2
    /// Skip items already done in this run (the default). Off, every item goes through the stage
    /// cache again — each stage a lookup, so a finished run re-exports without computing (`fssam demo`).
    public var skipDone = true
    /// This process's shard, recorded in `run.json` (the listing is filtered by the caller).
    public var shard: ShardSelection?
    /// Where the items come from, part of what the output folder belongs to (`OutputFolder`).
    public var inputDescription = "items given by the caller"
    /// Write into an output folder that holds another run's results, deleting them first.
    public var force = false
    /// Problems that do not stop the run or fail an item (an unreadable done-record, recomputed).
    public var warn: @Sendable (String) -> Void = { FileHandle.standardError.write(Data("warning: \($0)\n".utf8)) }

    public init(supports: [Episode.SupportFiles], ignoreValue: UInt16? = nil, parameters: RunParameters = try! RunParameters(),
                outputDirectory: String, maxPixels: Int = ImageDecoder.defaultMaxPixels) {
        self.supports = supports
        self.ignoreValue = ignoreValue
        self.parameters = parameters
        self.outputDirectory = outputDirectory
        self.maxPixels = maxPixels
    }
}

/// What a run did (so far, when handed to a progress observer).
public struct RunSummary: Sendable {
    public var runID: String
    /// Items whose mask was produced by this run.
    public var succeeded = 0
    public var failed = 0
    /// Items already done under this run id (by an earlier, possibly interrupted, run) and
    /// delivered to this output folder.
    public var skippedAsDone = 0
    /// Items done under this run id whose files were missing or different here: re-exported
    /// through the cache (counted in `succeeded` too).
    public var redelivered = 0
    /// Done-records that could not be read: their items were treated as not done.
    public var unreadableDoneRecords = 0
    public var counters = StageCounters()
    /// Bytes of mask, overlay and probability files written by this run.
    public var bytesWritten = 0
    public var seconds = 0.0

    public var processed: Int { succeeded + failed + skippedAsDone }
}

/// The streaming executor of `fssam run`: one support set, a stream of query items.
///
/// Items are taken from the listing one at a time (nothing holds the dataset). A done item is
/// skipped after one lookup. Otherwise its file is read and decoded ahead of the model on another
/// thread, the model stages run through `EpisodeStages` (every key looked up before computing),
/// and its files are written behind the model on another task, which then commits the item's
/// final outputs and done-record in one transaction — so an item is done only once its mask file
/// exists. At most `inFlight` items are being decoded and `inFlight` being written: memory is
/// flat however many items there are. A bad item is reported and the run goes on; only the cache
/// failing stops it.
public final class RunExecutor {
    public let store: CacheStore
    public let configuration: RunConfiguration
    /// Digest of the support set's content, the output-affecting parameters and the weights: a
    /// re-tune is a new run (its items are not done) that still reuses every unchanged stage.
    public let runID: String

    let resolver: StageResolver
    let stages: EpisodeStages
    let layout: MaskFileLayout
    let decoder: ImageDecoder
    let weights: StageWeightDigests

    /// Decodes and validates the supports (k ≥ 1, masks fit and have a target) before any model work.
    public init(model: FSSAM, weights: StageWeightDigests, store: CacheStore, configuration: RunConfiguration) throws {
        self.store = store
        self.configuration = configuration
        self.weights = weights
        decoder = ImageDecoder(maxPixels: configuration.maxPixels)
        layout = MaskFileLayout(outputDirectory: configuration.outputDirectory)
        resolver = StageResolver(store: store, weights: weights, parameters: configuration.parameters)
        guard !configuration.supports.isEmpty else {
            throw PipelineError("--support", "at least one support example (IMAGE MASK) is needed")
        }
        var supports: [FSSAM.SupportInput] = []
        for file in configuration.supports {
            // Episode.load validates exactly as `fssam episode` does; the query slot is the support itself.
            let episode = try Episode.load(query: file.image, supports: [file], ignoreValue: configuration.ignoreValue,
                                           decoder: decoder)
            resolver.countDecode(.support)
            supports.append(episode.supports[0])
        }
        stages = try EpisodeStages(model: model, store: store, resolver: resolver, supports: supports)
        var identity = Array("FSSAM-RUN-ID-1\n".utf8)
        identity += Array(configuration.parameters.canonicalText.utf8) + [10]
        for d in stages.supportImageDigests { identity += d.bytes }
        identity += stages.supportMaskDigest.bytes
        for name in weights.digests.keys.sorted() { identity += Array(name.utf8) + [0] + weights.digests[name]!.bytes }
        runID = "run-" + String(Digest.sha256(identity).hex.prefix(32))
    }

    public var counters: StageCounters { resolver.counters }

    /// `fssam prepare`: computes (or finds) the support-set stages and commits them, without any
    /// query, so every shard started from a copy of this cache skips the support encoders.
    public func prepareSupports() async throws -> StageCounters {
        try await stages.resolveSupports()
        try await store.flush()
        return resolver.counters
    }

    /// Explains item `id` of `inputs` in this run without computing anything: its done-record,
    /// and per stage (supports first) the key, its preimage and whether the cache has it. Stops at
    /// the first miss, whose output the later keys would need.
    public func explain<Inputs: Sequence>(item id: String, in inputs: Inputs) async throws -> ItemExplanation
    where Inputs.Element == InputEntry {
        guard let item = inputs.lazy.compactMap({ entry -> InputItem? in
            if case .item(let item) = entry, item.id == id { return item }
            return nil
        }).first else {
            throw PipelineError(id, "no such item in the inputs (ids are paths relative to --queries, or the manifest's id)")
        }
        let done = try store.doneRecord(run: runID, item: id)
        let rgb = try Self.read(item, decoder: decoder).image
        resolver.explanations = []
        defer { resolver.explanations = nil }
        var stoppedAt: String?
        do { _ = try await stages.query(image: ModelInput.image(rgb)) } catch let stop as StageResolver.ExplainStop {
            stoppedAt = stop.stage
        }
        return ItemExplanation(itemID: id, path: item.path, runID: runID, done: done, stages: resolver.explanations ?? [],
                               stoppedAt: stoppedAt)
    }

    /// An item-level failure: which stage, why. Anything else (cache I/O) stops the run.
    struct ItemFailure: Error {
        let stage: String
        let reason: String
    }

    /// What became of one listed entry.
    private enum Outcome {
        case succeeded(DoneMessage)
        case skipped(DoneMessage)
        case failed(ErrorLine)
    }

    /// What a done-record says an item's export was: its report lines and files.
    struct EarlierExport {
        let message: DoneMessage
        let files: [String: Digest]
    }

    /// An entry on its way through the run: done already, or being decoded.
    private enum Pending {
        case skip(id: String, DoneMessage)
        /// Done, but its files are not in this output folder (another `--out`, a deleted mask).
        case redeliver(InputItem, EarlierExport, Task<DecodedItem, Error>)
        /// Its done-record cannot be read: computed again, with a warning.
        case unreadableDone(InputItem, reason: String, Task<DecodedItem, Error>)
        case fail(ErrorLine)
        /// `reporting`: an earlier export of the item, whose report lines are kept when the same files come out.
        case decode(InputItem, Task<DecodedItem, Error>, reporting: EarlierExport? = nil)
    }

    /// What the output folder belongs to while this run writes it.
    public var owner: OutputFolder.Owner {
        var details = zip(configuration.supports, zip(stages.supportImageDigests, stages.supportMaskDigests)).enumerated().map {
            "support \($0.offset + 1): \($0.element.0.image) + \($0.element.0.mask) "
                + "(model input \($0.element.1.0.hex.prefix(12)), mask \($0.element.1.1.hex.prefix(12)))"
        }
        let weightsDigest = Digest.sha256(Array(weights.digests.keys.sorted().map { "\($0)=\(weights.digests[$0]!.hex)" }
            .joined(separator: "\n").utf8))
        details.append("weights: \(weightsDigest.hex.prefix(16)) (over \(weights.digests.count) stages)")
        details.append("parameters: " + configuration.parameters.canonicalText.split(separator: "\n").joined(separator: ", "))
        return OutputFolder.Owner(runID: runID, input: configuration.inputDescription, details: details)
    }

    /// Runs every entry of `inputs` (streamed), writes the report files and `run.json` to the
    /// output folder, and returns the totals. `progress` is called after each entry. `folder` is
    /// the output folder already locked by the caller (taken here otherwise).
    public func run<Inputs: Sequence>(_ inputs: Inputs, folder: OutputFolder? = nil,
                                      progress: ((RunSummary) -> Void)? = nil) async throws -> RunSummary
    where Inputs.Element == InputEntry {
        let started = DispatchTime.now().uptimeNanoseconds
        let folder = try folder ?? OutputFolder(configuration.outputDirectory)
        let owner = self.owner
        try folder.claim(for: owner, force: configuration.force)
        // run.json marks a finished run: a stale one must not vouch for this run while it is under way.
        unlink(configuration.outputDirectory + "/" + RunManifest.fileName)
        let reports = RunReports(spillDirectory: configuration.outputDirectory)
        var summary = RunSummary(runID: runID)
        var iterator = inputs.makeIterator()
        var ahead: [Pending] = []
        var behind: [(id: String, task: Task<Outcome, Error>)] = []
        let depth = max(1, configuration.inFlight)

        func record(_ outcome: Outcome, id: String) throws {
            switch outcome {
            case .succeeded(let message): summary.succeeded += 1; try reports.add(message, id: id)
            case .skipped(let message): summary.skippedAsDone += 1; try reports.add(message, id: id)
            case .failed(let line): summary.failed += 1; try reports.addError(line)
            }
            summary.counters = resolver.counters
            summary.seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            progress?(summary)
        }

        while true {
            // Keep `depth` entries decoding ahead of the model.
            while ahead.count < depth, let entry = iterator.next() { ahead.append(try admit(entry)) }
            guard !ahead.isEmpty else { break }
            switch ahead.removeFirst() {
            case .skip(let id, let message): try record(.skipped(message), id: id)
            case .unreadableDone(let item, let reason, let decoding):
                summary.unreadableDoneRecords += 1
                configuration.warn("item \(item.id): its done-record is unreadable (\(reason)); computing it again")
                ahead.insert(.decode(item, decoding), at: 0)
            case .redeliver(let item, let message, let decoding):
                summary.redelivered += 1
                ahead.insert(.decode(item, decoding, reporting: message), at: 0)
            case .fail(let line): try record(.failed(line), id: line.id)
            case .decode(let item, let decoding, let earlier):
                let outcome: Outcome
                do {
                    let decoded = try await decoding.value
                    let started = DispatchTime.now().uptimeNanoseconds
                    let hitsBefore = resolver.counters
                    if decoded.image == nil { resolver.countDecodeHit(.query) } else { resolver.countDecode(.query, seconds: decoded.seconds) }
                    let result = try await stages.query(image: decoded.modelInput)
                    behind.append((item.id, export(item, decoded: decoded, result: result, hitsBefore: hitsBefore, started: started,
                                                   earlier: earlier)))
                    // Wait for the oldest export only when too many are writing.
                    while behind.count > depth {
                        let oldest = behind.removeFirst()
                        try record(try await oldest.task.value, id: oldest.id)
                    }
                    continue
                } catch let e as CacheError {
                    throw e
                } catch {
                    let failure = error as? ItemFailure ?? ItemFailure(stage: "model", reason: "\(error)")
                    outcome = .failed(try await fail(item, failure))
                }
                try record(outcome, id: item.id)
            }
        }
        for pending in behind { try record(try await pending.task.value, id: pending.id) }
        try await store.flush()
        summary.counters = resolver.counters
        summary.bytesWritten = bytesWritten.value
        try reports.write(to: configuration.outputDirectory)
        try RunManifest(executor: self, summary: summary, pipeline: configuration.pipelineName, shard: configuration.shard)
            .write(toDirectory: configuration.outputDirectory)
        try folder.markFinished(owner)
        summary.seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        return summary
    }

    /// Skip a done item, report a listing failure, or start decoding an item on another thread.
    private func admit(_ entry: InputEntry) throws -> Pending {
        switch entry {
        case .failure(let failure):
            return .fail(ErrorLine(id: failure.id ?? failure.source, path: failure.source, stage: "input",
                                   reason: failure.line.map { "line \($0): \(failure.reason)" } ?? failure.reason))
        case .item(let item):
            // An id that cannot name an output file fails before any work is spent on it.
            // (The symbolic-link check stays with the write, where it matters.)
            do { _ = try MaskFileLayout.safeComponents(of: item.id) } catch {
                return .fail(ErrorLine(id: item.id, path: item.path, stage: "input", reason: "\(error)"))
            }
            // Pixels are needed by overlays and probability maps; otherwise a decode memo may stand in.
            let memo = configuration.overlays || configuration.probabilities ? nil
                : (store: store, parameters: configuration.parameters["decode"], weights: weights)
            let decode = { Self.startDecoding(item, decoder: self.decoder, memo: memo) }
            guard configuration.skipDone else { return .decode(item, decode()) }
            let done: DoneRecord?
            do { done = try store.doneRecord(run: runID, item: item.id) } catch let malformed as MalformedDataError {
                return .unreadableDone(item, reason: "\(malformed)", decode())
            }
            guard let done, done.status == .succeeded else { return .decode(item, decode()) }
            guard let message = DoneMessage(text: done.message, failed: false) else {
                return .unreadableDone(item, reason: "its report lines are not in this version's form", decode())
            }
            return isDelivered(done, item: item.id) ? .skip(id: item.id, message)
                : .redeliver(item, EarlierExport(message: message, files: done.files), decode())
        }
    }

    /// The files an item delivers to the output folder, by path relative to it.
    func deliveredFiles(forItem id: String) throws -> [String] {
        let name = try MaskFileLayout.relativePath(forItem: id)
        return ["masks/" + name] + (configuration.overlays ? ["overlays/" + name] : [])
            + (configuration.probabilities ? ["probabilities/" + name] : [])
    }

    /// Done *for this output folder*: every file the item delivers is here, with the digest its
    /// done-record recorded. A missing or changed file means the item is exported again.
    private func isDelivered(_ done: DoneRecord, item id: String) -> Bool {
        guard let expected = try? deliveredFiles(forItem: id) else { return false }
        return expected.allSatisfy { relative in
            guard let digest = done.files[relative],
                  let bytes = layout.existingFile(relative) else { return false }
            return Digest.sha256(bytes) == digest
        }
    }

    /// A query read and decoded ahead of the model: its size, the model input (resized and hashed
    /// here, off the model's path) and, when decoded, the image and the decode memo to commit with
    /// the item. A memo found for the file's bytes stands in for the decode: `image` and `memo` are
    /// nil (the decode counts as a hit) and the model input is made only if a stage must compute with it.
    struct DecodedItem {
        let width: Int
        let height: Int
        let image: RGBImage?
        let modelInput: QueryImage
        let memo: PreparedRecord?
        let seconds: Double
    }

    typealias MemoContext = (store: CacheStore, parameters: [String: ParameterValue], weights: StageWeightDigests)

    static func startDecoding(_ item: InputItem, decoder: ImageDecoder, memo context: MemoContext?) -> Task<DecodedItem, Error> {
        Task.detached {
            let started = DispatchTime.now().uptimeNanoseconds
            let bytes = try readBytes(item)
            let memo = context.map { DecodeMemo(fileDigest: Digest.sha256(bytes), parameters: $0.parameters, weights: $0.weights) }
            if let context, let memo, let entry = memo.lookup(in: context.store) {
                // The limit holds whatever the memo says: a lowered --max-pixels refuses the image as a decode would.
                guard entry.width * entry.height <= decoder.maxPixels else {
                    throw ItemFailure(stage: "decode", reason: "\(ImageError.tooLarge(width: entry.width, height: entry.height, limit: decoder.maxPixels))")
                }
                let input = QueryImage(digest: entry.modelInputDigest) {
                    ModelInput.image(try decode(bytes, of: item, decoder: decoder))
                }
                return DecodedItem(width: entry.width, height: entry.height, image: nil, modelInput: input, memo: nil,
                                   seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
            }
            let image = try decode(bytes, of: item, decoder: decoder)
            let input = QueryImage(ModelInput.image(image))
            let prepared = try memo.map { memo in
                try context!.store.prepare(memo.key, outputs: memo.outputs(
                    DecodeMemo.Entry(modelInputDigest: input.digest, width: image.width, height: image.height)))
            }
            return DecodedItem(width: image.width, height: image.height, image: image, modelInput: input,
                               memo: prepared, seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
        }
    }

    /// Reads the item's bytes, checks the manifest's digest if it gave one, and decodes.
    static func read(_ item: InputItem, decoder: ImageDecoder) throws -> (image: RGBImage, seconds: Double) {
        let started = DispatchTime.now().uptimeNanoseconds
        let image = try decode(try readBytes(item), of: item, decoder: decoder)
        return (image, Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
    }

    /// The item's bytes, checked against the manifest's digest if it gave one.
    static func readBytes(_ item: InputItem) throws -> [UInt8] {
        do {
            let bytes = try ImageDecoder.readFile(item.path)
            if let expected = item.sha256 {
                let actual = Digest.sha256(bytes).hex
                guard actual == expected.lowercased() else {
                    throw PipelineError(item.path, "content SHA-256 is \(actual), the manifest says \(expected)")
                }
            }
            return bytes
        } catch {
            throw ItemFailure(stage: "decode", reason: "\(error)")
        }
    }

    static func decode(_ bytes: [UInt8], of item: InputItem, decoder: ImageDecoder) throws -> RGBImage {
        do { return try decoder.decode(bytes) } catch { throw ItemFailure(stage: "decode", reason: "\(error)") }
    }

    /// Records a failed item: its done-record says failed (for `fssam explain`), and a later run retries it.
    private func fail(_ item: InputItem, _ failure: ItemFailure) async throws -> ErrorLine {
        // A failure is this run's news: the folder's old files for the item are not its result.
        if let files = try? deliveredFiles(forItem: item.id) { for file in files { unlink(layout.outputDirectory + "/" + file) } }
        let line = ErrorLine(id: item.id, path: item.path, stage: failure.stage, reason: failure.reason)
        try await store.complete(run: runID, item: item.id, records: [], outputs: [:], status: .failed, message: try line.json())
        return line
    }

    private let bytesWritten = ByteCounter()

    /// Writes the item's files behind the model, then commits its outputs and done-record.
    /// `earlier`: the report lines of the item's earlier export in this run (another `--out`);
    /// when the files come out the same, they are reported again unchanged, so every folder of a
    /// run holds the same reports however its files got there.
    private func export(_ item: InputItem, decoded: DecodedItem, result: EpisodeStages.QueryResult, hitsBefore: StageCounters,
                        started: UInt64, earlier: EarlierExport?) -> Task<Outcome, Error> {
        var itemHits: [String: Int] = [:]
        for stageName in FSSAMStage.all.map(\.name) {
            let n = resolver.counters.hits(stageName, .query) - hitsBefore.hits(stageName, .query)
            if n > 0 { itemHits[stageName] = n }
        }
        let (layout, store, runID, configuration, counter) = (self.layout, self.store, self.runID, self.configuration,
                                                              self.bytesWritten)
        let relativePath = try? MaskFileLayout.relativePath(forItem: item.id)
        let logits = result.logits, score = result.score
        let decodeRecord = result.decodeRecord
        // Committed with the done-record: decode_mask's record when it was computed, the decode memo when the item was decoded.
        let records = [decodeRecord, decoded.memo].compactMap { $0 }
        let (width, height, image) = (decoded.width, decoded.height, decoded.image)
        return Task.detached {
            do {
                let upsampled = MaskPostprocessing.upsampled(logits: logits, height: height, width: width)
                let mask = MaskPostprocessing.binaryMask(upsampled: upsampled)
                let png = try ImageEncoder.png(width: width, height: height, bands: 1,
                                               pixels: mask.map { $0 == 0 ? 0 : 255 })
                guard let relativePath else { throw PipelineError(item.id, "has no output path") }
                try AtomicFile.write(png, to: try layout.maskPath(forItem: item.id))
                var files = ["masks/" + relativePath: Digest.sha256(png)]
                var written = png.count
                if configuration.overlays {
                    // Overlays and probabilities need pixels: such runs always decode (no memo stands in).
                    guard let image else { throw PipelineError(item.path, "the image was not decoded for its overlay") }
                    let overlay = try Overlay.png(image: image, mask: mask)
                    try AtomicFile.write(overlay, to: try layout.overlayPath(forItem: item.id))
                    files["overlays/" + relativePath] = Digest.sha256(overlay)
                    written += overlay.count
                }
                if configuration.probabilities {
                    let grey = try ImageEncoder.png(width: width, height: height, bands: 1,
                                                    pixels: MaskPostprocessing.probabilityBytes(upsampled: upsampled))
                    try AtomicFile.write(grey, to: try layout.path(forItem: item.id, under: "probabilities"))
                    files["probabilities/" + relativePath] = Digest.sha256(grey)
                    written += grey.count
                }
                counter.add(written)
                let rle = COCORLE(mask: mask, height: height, width: width)
                let prediction = Prediction(itemID: item.id, imageID: .name(item.id), categoryID: configuration.categoryID,
                                            segmentation: rle, score: (score * 1e6).rounded() / 1e6)
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
                let line = ResultsLine(id: item.id, status: decodeRecord != nil ? "computed" : "cached", maskPNG: png,
                                       area: rle.area, seconds: (seconds * 1000).rounded() / 1000, cacheHits: itemHits)
                var message = DoneMessage.succeeded(result: try line.json(), prediction: try prediction.json())
                if let earlier, earlier.files == files { message = earlier.message }
                // The files, not blobs: decode_mask's logits are found again through its key.
                try await store.complete(run: runID, item: item.id, records: records, outputs: [:], files: files,
                                         status: .succeeded, message: message.text)
                return .succeeded(message)
            } catch let e as CacheError {
                throw e
            } catch {
                let line = ErrorLine(id: item.id, path: item.path, stage: "export", reason: "\(error)")
                // The logits are committed anyway: a retry after fixing the output folder re-exports without the model.
                try await store.complete(run: runID, item: item.id, records: records, outputs: [:],
                                         status: .failed, message: try line.json())
                return .failed(line)
            }
        }
    }
}

/// Bytes written by the export tasks, summed across threads.
final class ByteCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var total = 0
    func add(_ n: Int) { lock.lock(); total += n; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return total }
}

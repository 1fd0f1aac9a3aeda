import Checkpoint
import Foundation

/// One evaluation episode: a query, the class to segment, and the supports in model order.
public struct EvalEpisode: Sendable, Equatable, Codable {
    /// Position in the evaluation (0-based); the metric sums do not depend on processing order.
    public var index: Int
    public var query: ImagePair
    /// The class id (1…20 PASCAL, 1…80 COCO).
    public var classID: Int
    /// Model order: `supports[0]` is model support 0 (for k > 1 the last one sampled, spec §4.3.5).
    public var supports: [ImagePair]

    public init(index: Int, query: ImagePair, classID: Int, supports: [ImagePair]) {
        self.index = index
        self.query = query
        self.classID = classID
        self.supports = supports
    }

    enum CodingKeys: String, CodingKey {
        case index = "episode", query, classID = "class", supports
    }
}

/// The episode generator: Python's `random.randint` replaced by our own seeded stream.
///
/// SplitMix64 (the generator of `Checkpoint.SplitMix64`) seeded with `seed`, outputs taken in
/// order. `randint(1, n) − 1` is `below(n)`: unbiased rejection — draw x, retry while
/// x < 2^64 mod n, return x mod n. Bit-exact reproduction of the authors' episodes would need
/// torch/CPython RNG and 32-worker emulation (spec §4.4, §7.7); this gives "same lists, same
/// rules, fixed seed", and `--write-episodes` / `--episode-list` pin exact episodes across tools.
public struct EpisodeRandom {
    var stream: SplitMix64

    public init(seed: UInt64) { stream = SplitMix64(seed: seed) }

    /// Uniform in `0..<n`.
    public mutating func below(_ n: Int) -> Int {
        precondition(n > 0)
        let bound = UInt64(n)
        let threshold = (0 &- bound) % bound // 2^64 mod n
        while true {
            let x = stream.next()
            if x >= threshold { return Int(x % bound) }
        }
    }
}

/// Draws episodes by the rules of spec §4.3:
/// 1. the query of episode i is `data_list[i mod N]` (sequential passes, as the authors'
///    loader with shuffle off; COCO's 1000 episodes take the first 1000 entries);
/// 2. the class is uniform over the query's label values that are fold classes (0 and 255
///    dropped, not size-filtered);
/// 3. each support: one draw that is discarded (the authors' loop condition starts true), then
///    draws until the pool entry differs from the query's (image, label) and its index was not
///    drawn before in this episode;
/// 4. supports are stacked in reverse order of sampling.
///
/// Episodes are generated one at a time in index order (`makeIterator`), so memory is bounded by
/// the lists, never by the number of episodes. A query whose label cannot be read fails its
/// episodes only (`EpisodeDraw.failed`, no random draw spent); a label without a fold class or a
/// pool too small for the shots is a problem of the lists and stops the evaluation.
public struct EpisodeSampler: Sendable {
    public var lists: EvalLists
    public var classes: [Int]
    public var shots: Int
    /// Query list index → the fold classes present in its label (ascending); throws when the
    /// label cannot be read.
    public var queryClasses: @Sendable (Int) throws -> [Int]
    /// Each query's classes, read once and shared by every pass over the episodes.
    let memo = QueryClassMemo()

    public init(lists: EvalLists, classes: [Int], shots: Int, queryClasses: @escaping @Sendable (Int) throws -> [Int]) {
        self.lists = lists
        self.classes = classes
        self.shots = shots
        self.queryClasses = queryClasses
    }

    /// All `count` episodes in memory: for tests and small counts. A failed draw throws.
    public func draw(count: Int, seed: UInt64) throws -> [EvalEpisode] {
        var iterator = makeIterator(count: count, seed: seed)
        var episodes: [EvalEpisode] = []
        while let draw = try iterator.next() {
            switch draw {
            case .episode(let e): episodes.append(e)
            case .failed(let f): throw PipelineError(f.subject, f.reason)
            }
        }
        return episodes
    }

    public func makeIterator(count: Int, seed: UInt64) -> Iterator { Iterator(sampler: self, count: count, seed: seed) }

    public struct Iterator {
        let sampler: EpisodeSampler
        let count: Int
        var random: EpisodeRandom
        var index = 0
        /// (query, class) → pool entries other than the query: the same for every pass of that query.
        var eligible: [Int: Int] = [:]

        init(sampler: EpisodeSampler, count: Int, seed: UInt64) {
            self.sampler = sampler
            self.count = count
            random = EpisodeRandom(seed: seed)
        }

        public mutating func next() throws -> EpisodeDraw? {
            guard index < count else { return nil }
            defer { index += 1 }
            let lists = sampler.lists
            let q = index % lists.queries.count
            let query = lists.queries[q]
            let present: [Int]
            switch sampler.memo.classes(of: q, reading: sampler.queryClasses) {
            case .success(let classes): present = classes
            case .failure(let error):
                return .failed(FailedEpisode(episode: index, subject: error.subject, reason: error.reason))
            }
            guard !present.isEmpty else {
                throw PipelineError(query.label, "has no class of this fold, but the query list names it (list entry \(q + 1))")
            }
            let classID = present[random.below(present.count)]
            let pool = lists.pools[classID] ?? []
            let key = q &* 65536 &+ classID
            let eligibleCount = eligible[key] ?? pool.filter { $0 != query }.count
            eligible[key] = eligibleCount
            guard eligibleCount >= sampler.shots else {
                throw PipelineError(query.image, "class \(classID) has \(eligibleCount) support candidate(s) besides this query; \(sampler.shots) needed")
            }
            var drawn: [Int] = []
            var supports: [ImagePair] = []
            for _ in 0..<sampler.shots {
                var pick = random.below(pool.count) // the authors' discarded first draw
                var candidate = query
                while candidate == query || drawn.contains(pick) {
                    pick = random.below(pool.count)
                    candidate = pool[pick]
                }
                drawn.append(pick)
                supports.insert(candidate, at: 0)
            }
            return .episode(EvalEpisode(index: index, query: query, classID: classID, supports: supports))
        }
    }

    /// The fold classes among a label's values (0 and 255 dropped), ascending.
    public static func classes(in label: LabelImage, fold classes: [Int]) -> [Int] {
        var seen = [Bool](repeating: false, count: 65536)
        for v in label.values { seen[Int(v)] = true }
        return classes.filter { $0 != 0 && $0 != 255 && seen[$0] }
    }
}

/// One episode index's outcome of generation: the episode, or why it cannot be run.
public enum EpisodeDraw: Sendable, Equatable {
    case episode(EvalEpisode)
    case failed(FailedEpisode)

    public var episode: EvalEpisode? {
        if case .episode(let e) = self { return e }
        return nil
    }
}

/// Query list index → its fold classes or the reason its label is unreadable, read once per
/// query (a few ints each: bounded by the list, not by the episodes).
final class QueryClassMemo: @unchecked Sendable {
    private let lock = NSLock()
    private var known: [Int: Result<[Int], PipelineError>] = [:]

    func classes(of q: Int, reading: (Int) throws -> [Int]) -> Result<[Int], PipelineError> {
        lock.lock()
        defer { lock.unlock() }
        if let result = known[q] { return result }
        let result: Result<[Int], PipelineError>
        do { result = .success(try reading(q)) } catch let e as PipelineError { result = .failure(e) } catch {
            result = .failure(PipelineError("query label", "\(error)"))
        }
        known[q] = result
        return result
    }
}

/// The episodes of an evaluation, generated again for each pass (check, write, run) so they are
/// never all in memory: drawn by a sampler, or read from `--episode-list`.
public enum EpisodeSource: Sendable {
    case sampled(EpisodeSampler, count: Int, seed: UInt64)
    case list([EvalEpisode])

    public var count: Int {
        switch self {
        case .sampled(_, let count, _): count
        case .list(let episodes): episodes.count
        }
    }

    public func makeIterator() -> Iterator {
        switch self {
        case .sampled(let sampler, let count, let seed): Iterator(sampled: sampler.makeIterator(count: count, seed: seed))
        case .list(let episodes): Iterator(listed: episodes.makeIterator())
        }
    }

    public struct Iterator {
        var sampled: EpisodeSampler.Iterator?
        var listed: IndexingIterator<[EvalEpisode]>?

        public mutating func next() throws -> EpisodeDraw? {
            if sampled != nil { return try sampled!.next() }
            return listed?.next().map(EpisodeDraw.episode)
        }
    }

    /// Every draw, in index order (tests and small evaluations).
    public func all() throws -> [EpisodeDraw] {
        var iterator = makeIterator()
        var draws: [EpisodeDraw] = []
        while let draw = try iterator.next() { draws.append(draw) }
        return draws
    }
}

/// Episodes as JSON lines, one per episode:
/// `{"class":3,"episode":0,"query":{"image":…,"label":…},"supports":[{"image":…,"label":…}]}`
/// (keys sorted, paths as the list files spell them, supports in model order).
public enum EpisodeListFile {
    public static func text(_ episodes: [EvalEpisode]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try episodes.map { String(decoding: try encoder.encode($0), as: UTF8.self) + "\n" }.joined()
    }

    public static func write(_ episodes: [EvalEpisode], to path: String) throws {
        try AtomicFile.write(Array(try text(episodes).utf8), to: path)
    }

    /// Streams `source` to `path` in index order; episodes that failed generation are left out
    /// (they name no class or supports, so they cannot be replayed).
    public static func write(_ source: EpisodeSource, to path: String) throws {
        let writer = try AtomicFileWriter(path: path)
        var iterator = source.makeIterator()
        while let draw = try iterator.next() {
            if let episode = draw.episode { try writer.write(try text([episode]).utf8) }
        }
        try writer.commit()
    }

    /// Every line must be an episode for this fold with `shots` supports, whose paths lie inside
    /// `layout`'s root when a layout is given; errors name file and line.
    public static func read(_ path: String, classes: [Int], shots: Int, layout: DatasetLayout? = nil) throws -> [EvalEpisode] {
        let text = try EvalLists.readText(path)
        var episodes: [EvalEpisode] = []
        for (n, line) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
            .enumerated() where !line.allSatisfy({ $0 == " " }) {
            let where_ = "\(path):\(n + 1)"
            let episode: EvalEpisode
            do { episode = try JSONDecoder().decode(EvalEpisode.self, from: Data(line.utf8)) } catch {
                throw PipelineError(where_, "not an episode line (\(Self.reason(error)))")
            }
            guard classes.contains(episode.classID) else {
                throw PipelineError(where_, "class \(episode.classID) is not a class of this fold")
            }
            guard episode.supports.count == shots else {
                throw PipelineError(where_, "has \(episode.supports.count) support(s), --shots is \(shots)")
            }
            if let repeated = JSONTopLevelKeys.firstDuplicate(Array(line.utf8)) {
                throw PipelineError(where_, "key \"\(repeated)\" appears twice")
            }
            if let layout {
                for pair in [episode.query] + episode.supports { try layout.checkInside(pair, at: where_) }
            }
            episodes.append(episode)
        }
        guard !episodes.isEmpty else { throw PipelineError(path, "holds no episode") }
        guard Set(episodes.map(\.index)).count == episodes.count else {
            throw PipelineError(path, "two lines have the same episode number")
        }
        return episodes
    }

    static func reason(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): "missing \"\(key.stringValue)\""
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
            "wrong type at \(c.codingPath.map(\.stringValue).joined(separator: "."))"
        default: "invalid JSON"
        }
    }
}

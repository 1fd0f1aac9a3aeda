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
public struct EpisodeSampler {
    public var lists: EvalLists
    public var classes: [Int]
    public var shots: Int
    /// Query list index → the fold classes present in its label (ascending).
    public var queryClasses: (Int) throws -> [Int]

    public init(lists: EvalLists, classes: [Int], shots: Int, queryClasses: @escaping (Int) throws -> [Int]) {
        self.lists = lists
        self.classes = classes
        self.shots = shots
        self.queryClasses = queryClasses
    }

    public func draw(count: Int, seed: UInt64) throws -> [EvalEpisode] {
        var random = EpisodeRandom(seed: seed)
        var known: [Int: [Int]] = [:]
        var episodes: [EvalEpisode] = []
        episodes.reserveCapacity(count)
        for index in 0..<count {
            let q = index % lists.queries.count
            let query = lists.queries[q]
            let present: [Int]
            if let cached = known[q] { present = cached } else { present = try queryClasses(q); known[q] = present }
            guard !present.isEmpty else {
                throw PipelineError(query.label, "has no class of this fold, but the query list names it (list entry \(q + 1))")
            }
            let classID = present[random.below(present.count)]
            let pool = lists.pools[classID] ?? []
            let eligible = pool.filter { $0 != query }.count
            guard eligible >= shots else {
                throw PipelineError(query.image, "class \(classID) has \(eligible) support candidate(s) besides this query; \(shots) needed")
            }
            var drawn: [Int] = []
            var supports: [ImagePair] = []
            for _ in 0..<shots {
                var pick = random.below(pool.count) // the authors' discarded first draw
                var candidate = query
                while candidate == query || drawn.contains(pick) {
                    pick = random.below(pool.count)
                    candidate = pool[pick]
                }
                drawn.append(pick)
                supports.insert(candidate, at: 0)
            }
            episodes.append(EvalEpisode(index: index, query: query, classID: classID, supports: supports))
        }
        return episodes
    }

    /// The fold classes among a label's values (0 and 255 dropped), ascending.
    public static func classes(in label: LabelImage, fold classes: [Int]) -> [Int] {
        var seen = [Bool](repeating: false, count: 65536)
        for v in label.values { seen[Int(v)] = true }
        return classes.filter { $0 != 0 && $0 != 255 && seen[$0] }
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

    /// Every line must be an episode for this fold with `shots` supports; errors name file and line.
    public static func read(_ path: String, classes: [Int], shots: Int) throws -> [EvalEpisode] {
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

import StageCache

/// Which part of the input one process handles when a run is split over N processes (a Slurm
/// array task, a Kubernetes Indexed Job pod): the items whose id hashes to `index` mod `count`.
///
/// The hash is the first 8 bytes of SHA-256 of the id's UTF-8 bytes, big-endian, mod N — fixed
/// across machines, processes and releases (Swift's `hashValue` is seeded per process), and a
/// function of the id alone, so an item stays in its shard when the input is reordered or grows.
public struct ShardSelection: Sendable, Equatable, CustomStringConvertible {
    public let index: Int
    public let count: Int

    /// The most shards a run may be split into. Far above any cluster array (Slurm's default
    /// MaxArraySize is 1001), and low enough that listing every part (`fssam status`) stays cheap:
    /// an unchecked count of 2^63 made that listing abort on allocation.
    public static let maximumCount = 100_000
    public static let countRange = 1...maximumCount

    public init(index: Int, count: Int) throws {
        guard Self.countRange.contains(count) else {
            throw PipelineError("shard \(index)/\(count)", "the shard count must be 1…\(Self.maximumCount)")
        }
        guard index >= 0, index < count else {
            throw PipelineError("shard \(index)/\(count)", "the shard index must be in 0..<\(count) (shards are numbered from 0)")
        }
        self.index = index
        self.count = count
    }

    /// `I/N`, e.g. `3/8`.
    public static func parse(_ text: String) throws -> ShardSelection {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw PipelineError("--shard \(text)", "expected I/N, e.g. 0/4 (index from 0, then the count)") }
        guard let index = Int(parts[0]) else { throw PipelineError("--shard \(text)", "shard index '\(parts[0])' is not an integer") }
        guard let count = Int(parts[1]) else { throw PipelineError("--shard \(text)", "shard count '\(parts[1])' is not an integer") }
        do { return try ShardSelection(index: index, count: count) } catch let e as PipelineError {
            throw PipelineError("--shard \(text)", e.reason)
        }
    }

    /// The shard this process handles, from `--shard I/N`, else from the scheduler's environment:
    /// `SLURM_ARRAY_TASK_ID` (count from `--shard-count`, else `SLURM_ARRAY_TASK_COUNT`), or
    /// Kubernetes' `JOB_COMPLETION_INDEX` (count from `--shard-count`: the pod is not told it).
    /// Nil when nothing asks for sharding.
    ///
    /// `SLURM_ARRAY_TASK_COUNT` is the number of tasks in *this submission*: a resubmission of
    /// `--array=1,3` has count 2, which would silently select different items. So it is trusted
    /// only when the array is exactly 0…count-1 (`SLURM_ARRAY_TASK_MIN`/`MAX`); otherwise the
    /// count must be given.
    public static func resolve(shard: String?, shardCount: Int?, environment: [String: String]) throws -> ShardSelection? {
        if let shard {
            let selection = try parse(shard)
            if let shardCount, shardCount != selection.count {
                throw PipelineError("--shard \(shard)", "contradicts --shard-count \(shardCount)")
            }
            return selection
        }
        func integer(_ name: String) throws -> Int? {
            guard let text = environment[name], !text.isEmpty else { return nil }
            guard let value = Int(text) else { throw PipelineError("$\(name)", "'\(text)' is not an integer") }
            return value
        }
        func selection(_ index: Int, _ count: Int, _ source: String) throws -> ShardSelection {
            do { return try ShardSelection(index: index, count: count) } catch let e as PipelineError {
                throw PipelineError(source, e.reason)
            }
        }
        if let task = try integer("SLURM_ARRAY_TASK_ID") {
            if let shardCount { return try selection(task, shardCount, "$SLURM_ARRAY_TASK_ID=\(task) with --shard-count \(shardCount)") }
            guard let count = try integer("SLURM_ARRAY_TASK_COUNT") else {
                throw PipelineError("$SLURM_ARRAY_TASK_ID=\(task)", "no shard count: pass --shard-count N")
            }
            if let min = try integer("SLURM_ARRAY_TASK_MIN"), let max = try integer("SLURM_ARRAY_TASK_MAX"),
               min != 0 || max != count - 1 {
                throw PipelineError("$SLURM_ARRAY_TASK_ID=\(task)",
                                    "this array is \(min)…\(max) with \(count) task(s), not 0…N-1 (a resubmission?); "
                                    + "pass --shard-count N with the original N")
            }
            return try selection(task, count, "$SLURM_ARRAY_TASK_ID=\(task) of $SLURM_ARRAY_TASK_COUNT=\(count)")
        }
        if let index = try integer("JOB_COMPLETION_INDEX") {
            guard let shardCount else {
                throw PipelineError("$JOB_COMPLETION_INDEX=\(index)", "no shard count: pass --shard-count N (the Job's completions)")
            }
            return try selection(index, shardCount, "$JOB_COMPLETION_INDEX=\(index) with --shard-count \(shardCount)")
        }
        if let shardCount {
            throw PipelineError("--shard-count \(shardCount)",
                                "no shard index: pass --shard I/N, or run as a Slurm array task or an Indexed Job pod")
        }
        return nil
    }

    /// The shard of a key: SHA-256, first 8 bytes big-endian, mod `count`.
    public static func shard(of key: [UInt8], count: Int) -> Int {
        let bytes = Digest.sha256(key).bytes
        var value: UInt64 = 0
        for byte in bytes.prefix(8) { value = value << 8 | UInt64(byte) }
        return Int(value % UInt64(count))
    }

    public func contains(itemID: String) -> Bool { Self.shard(of: Array(itemID.utf8), count: count) == index }

    /// An input failure with an id goes with its id (a duplicate lands where the first one is); one
    /// without (a line that does not parse) goes by where it is, so exactly one shard reports it.
    public func contains(_ entry: InputEntry) -> Bool {
        switch entry {
        case .item(let item): return contains(itemID: item.id)
        case .failure(let failure):
            if let id = failure.id { return contains(itemID: id) }
            let location = "\(failure.source)\n\(failure.line.map(String.init) ?? "-")"
            return Self.shard(of: Array(location.utf8), count: count) == index
        }
    }

    /// The entries of `inputs` in this shard, lazily (the listing is streamed, never held).
    public func filter<Inputs: Sequence>(_ inputs: Inputs) -> ShardFilteredInputs<Inputs> {
        ShardFilteredInputs(base: inputs, shard: self)
    }

    /// `I-of-N`: the folder of this shard's outputs under `OUT/shards/`.
    public var partName: String { "\(index)-of-\(count)" }

    /// `OUT/shards/I-of-N`: where this shard's run writes what an unsharded run writes to OUT.
    public func partDirectory(in out: String) -> String { ShardSet.shardsDirectory(of: out) + "/" + partName }

    public var description: String { "\(index)/\(count)" }
}

/// A listing restricted to one shard, still streamed.
public struct ShardFilteredInputs<Base: Sequence>: Sequence where Base.Element == InputEntry {
    let base: Base
    let shard: ShardSelection

    public struct Iterator: IteratorProtocol {
        var base: Base.Iterator
        let shard: ShardSelection

        public mutating func next() -> InputEntry? {
            while let entry = base.next() {
                if shard.contains(entry) { return entry }
            }
            return nil
        }
    }

    public func makeIterator() -> Iterator { Iterator(base: base.makeIterator(), shard: shard) }
}

extension ShardFilteredInputs: Sendable where Base: Sendable {}

import ArgumentParser
import Pipeline

/// The allowed values of every numeric option, in one place, so that `validate()` and the help
/// text agree. Each bound keeps the value inside what the program can allocate or finish: an
/// unchecked `--threads 100000000` aborted allocating per-thread buffers, `--episodes 2^63`
/// reserved an array that large, `--num-refine 10^12` never finished.
enum OptionRange {
    /// Compute threads: more than 1024 only adds scheduling overhead on any machine we run on.
    static let threads = 1...1024
    /// Pixel limit of a decoded image: 1 Gpx is 3 GB of RGB, the most one worker should hold.
    static let maxPixels = 1...1_000_000_000
    /// Iterative Memory Refinement steps: the range the pipeline file's `imr.iterations` allows.
    static let numRefine: ClosedRange<Int> = {
        guard case let .int(min?, max?)? = StageCatalog.fssam.kind(named: "imr")?.parameter(named: "iterations")?.type else {
            preconditionFailure("the FSSAM catalog declares imr.iterations as a bounded int")
        }
        return Int(min)...Int(max)
    }()
    /// Support examples per eval episode (the protocol uses 1 and 5).
    static let shots = 1...100
    /// Eval episodes (the protocols use 1,000 to 20,000; they are streamed, so the bound is generous).
    static let episodes = 1...EvalPlan.maxEpisodes
    /// COCO `category_id`: a non-negative 32-bit integer, as COCO tools read it.
    static let categoryID = 0...Int(Int32.max)
    /// `fssam demo` query images.
    static let demoQueries = 1...1000
    /// Shard counts (`--shard I/N`, `--shard-count N`).
    static let shardCount = ShardSelection.countRange

    /// Refuses `value` outside `range`, naming the option and the range.
    static func check(_ value: Int, _ range: ClosedRange<Int>, option: String) throws {
        guard range.contains(value) else {
            throw ValidationError("--\(option) must be \(range.lowerBound)…\(range.upperBound) (got \(value))")
        }
    }

    /// "1…1024", for help texts.
    static func text(_ range: ClosedRange<Int>) -> String { "\(range.lowerBound)…\(range.upperBound)" }
}

import ArgumentParser
import Foundation
import Pipeline

/// Which shard of the input this process runs, for `fssam run` on a cluster (Slurm array task,
/// Kubernetes Indexed Job pod). Without either option, and outside such a job, the run is unsharded.
struct ShardOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Run only shard I of N (0 ≤ I < N): the items whose id hashes to I mod N. "
                               + "Outputs go to OUT/shards/I-of-N/. Default: $SLURM_ARRAY_TASK_ID, or $JOB_COMPLETION_INDEX.",
                               valueName: "I/N"))
    var shard: String?

    @Option(help: ArgumentHelp("The number of shards N, with $SLURM_ARRAY_TASK_ID or $JOB_COMPLETION_INDEX "
                               + "(needed for Kubernetes and for resubmitted Slurm indices).", valueName: "N"))
    var shardCount: Int?

    func validate() throws {
        if let shardCount { try OptionRange.check(shardCount, OptionRange.shardCount, option: "shard-count") }
    }

    /// The shard from the options and the scheduler's environment; nil for an unsharded run.
    func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ShardSelection? {
        try ShardSelection.resolve(shard: shard, shardCount: shardCount, environment: environment)
    }
}

import ArgumentParser

@main
struct FSSAMCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fssam",
        abstract: "Few-shot segmentation (FSSAM: SAM 2 + DINOv2) over large image sets, cached per stage.",
        subcommands: [EpisodeCommand.self, RunCommand.self, ExplainCommand.self, DemoCommand.self, EvalCommand.self,
                      PrepareCommand.self, StatusCommand.self, MergeCommand.self,
                      CacheCommand.self, WeightsCommand.self])
}

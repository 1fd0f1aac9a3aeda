/// One parser (or file reader) under fuzz: `run` gets the bytes of one input and a scratch folder
/// it may write files into; it returns or throws — both are orderly outcomes.
struct FuzzTarget: Sendable {
    let name: String
    let run: @Sendable (_ input: [UInt8], _ scratch: String) throws -> Void

    /// Every target, by name (`FuzzRunner NAME`, and one test per name in FuzzTests).
    static let all: [FuzzTarget] = checkpointTargets + pipelineFileTargets + imageTargets + cacheTargets
}

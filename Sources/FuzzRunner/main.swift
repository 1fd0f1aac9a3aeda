import Foundation

// FuzzRunner TARGET --seed S --seconds T --corpus DIR --scratch DIR
//
// Runs one fuzz target in this process: first every file of the corpus unchanged (seeds and the
// crashers found earlier), then mutations of them until the time budget is spent. Each input is
// written to SCRATCH/current before it is tried, so when this process dies by a signal or is
// killed for hanging, the parent (FuzzTests) has the input that did it. A target throwing is an
// orderly outcome; only a signal, a hang or a trap is a finding. Prints one summary line.

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments == ["--list"] {
    for target in FuzzTarget.all { print(target.name) }
    exit(0)
}
func option(_ name: String) -> String? {
    guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count else { return nil }
    return arguments[i + 1]
}
guard let targetName = arguments.first, let target = FuzzTarget.all.first(where: { $0.name == targetName }) else {
    let names = FuzzTarget.all.map(\.name).joined(separator: ", ")
    FileHandle.standardError.write(Data("usage: FuzzRunner TARGET --seed S --seconds T --corpus DIR --scratch DIR (targets: \(names))\n".utf8))
    exit(2)
}
guard let corpusDirectory = option("--corpus"), let scratch = option("--scratch") else {
    FileHandle.standardError.write(Data("FuzzRunner: --corpus DIR and --scratch DIR are required\n".utf8))
    exit(2)
}
let seed = UInt64(option("--seed") ?? "1") ?? 1
let seconds = Double(option("--seconds") ?? "5") ?? 5

let corpus = FuzzCorpus(directory: corpusDirectory)
guard !corpus.inputs.isEmpty else {
    FileHandle.standardError.write(Data("FuzzRunner: the corpus \(corpusDirectory) is empty\n".utf8))
    exit(2)
}
try? FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
let current = scratch + "/current"

var tried = 0, rejected = 0
@MainActor func attempt(_ input: [UInt8]) {
    // Written before the attempt: if it kills us, the parent keeps this file as the crasher.
    FileManager.default.createFile(atPath: current, contents: Data(input))
    do { try target.run(input, scratch) } catch { rejected += 1 }
    tried += 1
}

for input in corpus.inputs { attempt(input) }
var mutator = Mutator(seed: seed)
let deadline = Date().addingTimeInterval(seconds)
while Date() < deadline {
    let base = corpus.inputs[Int(mutator.next() % UInt64(corpus.inputs.count))]
    attempt(mutator.mutate(base))
}
try? FileManager.default.removeItem(atPath: current)
print("fuzz \(target.name): \(tried) inputs (\(corpus.inputs.count) corpus files), \(rejected) rejected with an error, 0 crashes")

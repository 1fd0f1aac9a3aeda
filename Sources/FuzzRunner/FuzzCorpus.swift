import Foundation

/// The starting inputs of a target: every regular file of its corpus folder, in name order.
struct FuzzCorpus {
    let inputs: [[UInt8]]

    init(directory: String) {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
        inputs = names.compactMap { name in
            FileManager.default.contents(atPath: directory + "/" + name).map { [UInt8]($0) }
        }
    }
}

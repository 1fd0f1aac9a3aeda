import Foundation
import StageCache

/// Whether a finished part holds what its `run.json` says: one `results.jsonl` line per ok item,
/// one `errors.jsonl` line per failed item, and each result's mask in `masks/` with the SHA-256
/// its line records. `fssam merge` refuses a part that fails this, and `fssam status` lists it to
/// resubmit, so a part is never merged short of a mask or a line. Streams: memory does not grow
/// with the part.
struct ShardPartCheck {
    let directory: String
    let manifest: RunManifest

    /// What is wrong, in words naming the file; nil when the part is whole.
    func problem() -> String? {
        do {
            let layout = MaskFileLayout(outputDirectory: directory)
            let results = try LineReader(path: directory + "/results.jsonl")
            var okLines = 0
            while let line = results.next() {
                okLines += 1
                guard case .text(let text) = line,
                      let object = try? JSONSerialization.jsonObject(with: Data(text)) as? [String: Any],
                      let id = object["id"] as? String, let digest = object["mask_sha256"] as? String else {
                    return "results.jsonl:\(results.lineNumber): not a result line"
                }
                let relative = "masks/" + (try MaskFileLayout.relativePath(forItem: id))
                guard let bytes = layout.existingFile(relative) else { return "\(relative) is missing (item \(id))" }
                guard Digest.sha256(bytes).hex == digest else {
                    return "\(relative) differs from the mask its results line records (item \(id))"
                }
            }
            guard okLines == manifest.items.ok else {
                return "results.jsonl has \(okLines) line(s), run.json says \(manifest.items.ok) item(s) ok"
            }
            let errors = try LineReader(path: directory + "/errors.jsonl")
            var errorLines = 0
            while errors.next() != nil { errorLines += 1 }
            guard errorLines == manifest.items.failed else {
                return "errors.jsonl has \(errorLines) line(s), run.json says \(manifest.items.failed) item(s) failed"
            }
            return nil
        } catch {
            return "\(error)"
        }
    }
}

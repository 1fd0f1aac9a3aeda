import Foundation
import Pipeline

/// `fssam run`'s progress on stderr: a live line redrawn in place when stderr is a terminal, a
/// plain line every `plainInterval` seconds otherwise (logs, Slurm output files), nothing with
/// `--quiet`. Shows items done / total, items per second, ETA, each query stage's cache hit rate
/// and failures. The total is counted by a second walk of the inputs in the background, so the
/// first items start at once; until it is known the line says "counting".
final class ProgressDisplay: @unchecked Sendable {
    enum Mode { case live, plain, quiet }

    let mode: Mode
    let plainInterval: Double
    private let lock = NSLock()
    private var total: Int?
    private var lastDraw = 0.0
    private var drewLive = false

    init(quiet: Bool, plainInterval: Double = 10) {
        mode = quiet ? .quiet : (isatty(STDERR_FILENO) != 0 ? .live : .plain)
        self.plainInterval = plainInterval
    }

    /// Counts `inputs` on a background thread (a listing is cheap next to the model).
    func countTotal<Inputs: Sequence & Sendable>(_ inputs: Inputs) where Inputs.Element == InputEntry {
        guard mode != .quiet else { return }
        Thread.detachNewThread { [self] in
            var n = 0
            for _ in inputs { n += 1 }
            lock.lock(); total = n; lock.unlock()
        }
    }

    func update(_ summary: RunSummary) {
        guard mode != .quiet else { return }
        let now = summary.seconds
        lock.lock()
        let interval = mode == .live ? 0.1 : plainInterval
        let due = now - lastDraw >= interval
        if due { lastDraw = now }
        let total = self.total
        lock.unlock()
        guard due else { return }
        let line = Self.line(summary, total: total)
        if mode == .live {
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
            drewLive = true
        } else {
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }

    /// Ends the live line so the summary starts on a fresh one.
    func finish() {
        if mode == .live && drewLive { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    static func line(_ s: RunSummary, total: Int?) -> String {
        let done = s.processed
        let rate = s.seconds > 0 ? Double(done) / s.seconds : 0
        var parts = ["\(done)/\(total.map(String.init) ?? "counting…") items"]
        parts.append(String(format: "%.2f items/s", rate))
        if let total, rate > 0, total >= done {
            parts.append("ETA " + duration(Double(total - done) / rate))
        }
        let rates = ["dino_features", "sam2_features", "priors", "memory_encode", "scma_prefix", "imr", "decode_mask"].compactMap { stage -> String? in
            let h = s.counters.hits(stage, .query), c = s.counters.computed(stage, .query)
            guard h + c > 0 else { return nil }
            return "\(shortName(stage)) \(Int((100 * Double(h) / Double(h + c)).rounded()))%"
        }
        if !rates.isEmpty { parts.append("hits " + rates.joined(separator: " ")) }
        if s.skippedAsDone > 0 { parts.append("\(s.skippedAsDone) already done") }
        parts.append("\(s.failed) failed")
        return parts.joined(separator: " · ")
    }

    static func shortName(_ stage: String) -> String {
        switch stage {
        case "dino_features": return "dino"
        case "sam2_features": return "sam2"
        case "memory_encode": return "mem"
        case "decode_mask": return "dec"
        case "scma_prefix": return "pre"
        default: return stage
        }
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        if s >= 3600 { return "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m" }
        if s >= 60 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
        return "\(s)s"
    }
}

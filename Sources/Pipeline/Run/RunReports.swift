/// The report files of a run — `results.jsonl`, `errors.jsonl`, `predictions.json` — collected
/// item by item in whatever order items finish (or were found done by an earlier run), and written
/// once at the end in canonical order (item id bytes, then line bytes), through bounded-memory
/// sorted spills and streaming atomic writers: nothing is held per item but a spill entry, and a
/// reader never sees a half-written file.
final class RunReports {
    private let results: SortedSpill
    private let errors: SortedSpill
    private let predictions: SortedSpill

    init(spillDirectory: String) {
        results = SortedSpill(directory: spillDirectory)
        errors = SortedSpill(directory: spillDirectory)
        predictions = SortedSpill(directory: spillDirectory)
    }

    func add(_ message: DoneMessage, id: String) throws {
        switch message {
        case .succeeded(let result, let prediction):
            try results.append(key: id, line: result)
            try predictions.append(key: id, line: prediction)
        case .failed(let error):
            try errors.append(key: id, line: error)
        }
    }

    func addError(_ line: ErrorLine) throws { try errors.append(key: line.id, line: try line.json()) }

    func write(to directory: String) throws {
        try Self.writeLines(results, to: directory + "/results.jsonl")
        try Self.writeLines(errors, to: directory + "/errors.jsonl")
        // One prediction per line inside a JSON array (diffable), as `PredictionsWriter` writes it.
        let file = try AtomicFileWriter(path: directory + "/predictions.json")
        if predictions.count == 0 {
            try file.write("[]\n")
        } else {
            var first = true
            try file.write("[\n")
            try predictions.forEachSorted { line in
                if !first { try file.write(",\n") }
                first = false
                try file.write(line)
            }
            try file.write("\n]\n")
        }
        try file.commit()
    }

    private static func writeLines(_ spill: SortedSpill, to path: String) throws {
        let file = try AtomicFileWriter(path: path)
        try spill.forEachSorted { line in try file.write(line + [10]) }
        try file.commit()
    }
}

/// What a done-record remembers of its item, so a resumed or repeated run re-emits the item's
/// report lines without recomputing: for a succeeded item its `results.jsonl` line and its
/// `predictions.json` entry, for a failed one its `errors.jsonl` line. Stored as the record's
/// message, the lines joined by a newline (canonical JSON never contains a raw newline).
enum DoneMessage: Equatable {
    case succeeded(result: String, prediction: String)
    case failed(error: String)

    var text: String {
        switch self {
        case .succeeded(let result, let prediction): return result + "\n" + prediction
        case .failed(let error): return error
        }
    }

    /// Nil for a message this version did not write (then the item is recomputed, not trusted).
    init?(text: String, failed: Bool) {
        if failed {
            guard !text.isEmpty, !text.contains("\n") else { return nil }
            self = .failed(error: text)
            return
        }
        let parts = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        self = .succeeded(result: String(parts[0]), prediction: String(parts[1]))
    }
}

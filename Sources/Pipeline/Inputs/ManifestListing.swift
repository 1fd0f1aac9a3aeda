import Foundation

/// The items of a `--manifest` file, read one line at a time. Two formats:
/// - JSON lines: `{"id": "...", "path": "...", "sha256": "..."}` (sha256 optional);
/// - CSV with a header naming the columns `id`, `path` and optionally `sha256` (any order).
/// `.jsonl`/`.ndjson`/`.json` and `.csv` choose by extension; otherwise a first line starting with
/// '{' means JSON lines. Relative paths are resolved against the manifest's folder, so a manifest
/// travels with its images.
///
/// A line that does not parse, or repeats an id, becomes a `.failure` naming the line and the
/// reason, and the listing goes on. Finding repeats keeps every id seen so far (with its line):
/// memory is O(number of items) in ids only, which at 10^7 items of ~40 bytes is well under a GB;
/// the images and lines themselves are never held.
public struct ManifestListing: Sequence, Sendable {
    public enum Format: Sendable, Equatable { case jsonLines, csv(columns: CSVColumns) }

    /// Where each field is in a CSV record, from the header.
    public struct CSVColumns: Sendable, Equatable {
        let id: Int
        let path: Int
        let sha256: Int?
        let count: Int
    }

    public let path: String
    public let format: Format
    let directory: String

    /// Opens the manifest to choose its format and, for CSV, read the header. A missing file or a
    /// bad header makes the whole manifest unusable, so that throws before any work starts.
    public init(path: String) throws {
        self.path = path
        if let slash = path.lastIndex(of: "/") {
            directory = slash == path.startIndex ? "/" : String(path[..<slash])
        } else {
            directory = "."
        }
        let reader = try LineReader(path: path)
        let lower = path.lowercased()
        // The format is sniffed from the first non-blank line that fits the line limit; an
        // over-long line before it is an item's problem in JSON lines (reported by the iterator,
        // the rest goes on), but in CSV it is the header, without which nothing can be read.
        var first: [UInt8]?
        var firstTooLong: Int?
        while let line = reader.next() {
            guard case .text(var bytes) = line else {
                if firstTooLong == nil { firstTooLong = reader.lineNumber }
                continue
            }
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }  // UTF-8 BOM from spreadsheet exports
            if !Self.isBlank(bytes) { first = bytes; break }
        }
        let isJSON = [".jsonl", ".ndjson", ".json"].contains { lower.hasSuffix($0) }
            || (!lower.hasSuffix(".csv") && first?.first(where: { $0 != 32 && $0 != 9 }) == UInt8(ascii: "{"))
        if isJSON {
            format = .jsonLines
        } else {
            if let firstTooLong {
                throw PipelineError("\(path):\(firstTooLong)", "CSV header line longer than \(reader.maxLineBytes) bytes; expected id,path[,sha256]")
            }
            guard let header = first else { throw PipelineError(path, "empty CSV manifest: no header line (id,path[,sha256])") }
            format = .csv(columns: try Self.columns(header: header, manifest: path, line: reader.lineNumber))
        }
    }

    static func columns(header: [UInt8], manifest: String, line: Int) throws -> CSVColumns {
        let names: [String]
        do { names = try CSVRecord.fields(header) } catch {
            throw PipelineError(manifest, "line \(line): header: \(error.reason)")
        }
        var index: [String: Int] = [:]
        for (i, raw) in names.enumerated() {
            let name = raw.trimmingCharacters(in: .whitespaces).lowercased()
            guard ["id", "path", "sha256"].contains(name) else {
                throw PipelineError(manifest, "line \(line): unknown column '\(raw)' in header; expected id,path[,sha256]")
            }
            guard index[name] == nil else { throw PipelineError(manifest, "line \(line): column '\(name)' appears twice in header") }
            index[name] = i
        }
        guard let id = index["id"], let path = index["path"] else {
            throw PipelineError(manifest, "line \(line): header must name columns id and path (got \(names.joined(separator: ",")))")
        }
        return CSVColumns(id: id, path: path, sha256: index["sha256"], count: names.count)
    }

    static func isBlank(_ bytes: [UInt8]) -> Bool { bytes.allSatisfy { $0 == 32 || $0 == 9 } }

    public func makeIterator() -> Iterator { Iterator(listing: self) }

    public struct Iterator: IteratorProtocol {
        let listing: ManifestListing
        var reader: LineReader?
        var openFailure: InputFailure?
        var headerSkipped = false
        /// First line of every id seen: duplicates are reported with where the first one is.
        var seen: [String: Int] = [:]

        init(listing: ManifestListing) {
            self.listing = listing
            do { reader = try LineReader(path: listing.path) } catch let error as PipelineError {
                openFailure = InputFailure(id: nil, source: listing.path, line: nil, reason: error.reason)
            } catch {
                openFailure = InputFailure(id: nil, source: listing.path, line: nil, reason: "\(error)")
            }
        }

        public mutating func next() -> InputEntry? {
            if let failure = openFailure { openFailure = nil; return .failure(failure) }
            guard let reader else { return nil }
            while let line = reader.next() {
                let number = reader.lineNumber
                guard case .text(var bytes) = line else {
                    return failure(line: number, "line longer than \(reader.maxLineBytes) bytes")
                }
                if number == 1, bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
                if isBlank(bytes) { continue }
                let parsed: Result<InputItem, ParseFailure>
                switch listing.format {
                case .jsonLines:
                    parsed = parseJSON(bytes)
                case .csv(let columns):
                    if !headerSkipped { headerSkipped = true; continue }
                    // A quoted field may hold line breaks: the record goes on until its quotes close.
                    while CSVRecord.isOpen(bytes) {
                        guard case .text(let more)? = reader.next() else {
                            return failure(line: number, "unterminated quoted field (record starts on this line)")
                        }
                        bytes += [10] + more
                        if bytes.count > reader.maxLineBytes {
                            return failure(line: number, "record is longer than \(reader.maxLineBytes) bytes")
                        }
                    }
                    parsed = parseCSV(bytes, columns)
                }
                switch parsed {
                case .failure(let problem):
                    return failure(line: number, id: problem.id, problem.reason)
                case .success(let item):
                    if let first = seen[item.id] {
                        return failure(line: number, id: item.id, "duplicate id; first listed on line \(first)")
                    }
                    seen[item.id] = number
                    return .item(item)
                }
            }
            return nil
        }

        func isBlank(_ bytes: [UInt8]) -> Bool { ManifestListing.isBlank(bytes) }

        func failure(line: Int, id: String? = nil, _ reason: String) -> InputEntry {
            .failure(InputFailure(id: id, source: listing.path, line: line, reason: reason))
        }

        struct ParseFailure: Error {
            var id: String?
            let reason: String
        }

        func parseJSON(_ bytes: [UInt8]) -> Result<InputItem, ParseFailure> {
            let object: Any
            do { object = try JSONSerialization.jsonObject(with: Data(bytes)) } catch {
                return .failure(ParseFailure(reason: "not valid JSON"))
            }
            guard let fields = object as? [String: Any] else {
                return .failure(ParseFailure(reason: "expected a JSON object {\"id\": ..., \"path\": ...}"))
            }
            // JSONSerialization keeps one of two equal keys without a word; which path was meant
            // is unknowable, so the line fails.
            if let repeated = JSONTopLevelKeys.firstDuplicate(bytes) {
                return .failure(ParseFailure(id: repeated == "id" ? nil : fields["id"] as? String, reason: "key \"\(repeated)\" appears twice"))
            }
            guard let id = fields["id"] as? String else {
                return .failure(ParseFailure(reason: fields["id"] == nil ? "missing \"id\"" : "\"id\" must be a string"))
            }
            guard let path = fields["path"] as? String else {
                return .failure(ParseFailure(id: id, reason: fields["path"] == nil ? "missing \"path\"" : "\"path\" must be a string"))
            }
            var sha: String?
            switch fields["sha256"] {
            case nil, is NSNull: sha = nil
            case let s as String: sha = s
            default: return .failure(ParseFailure(id: id, reason: "\"sha256\" must be a string"))
            }
            return item(id: id, path: path, sha256: sha)
        }

        func parseCSV(_ bytes: [UInt8], _ columns: CSVColumns) -> Result<InputItem, ParseFailure> {
            let fields: [String]
            do { fields = try CSVRecord.fields(bytes) } catch { return .failure(ParseFailure(reason: error.reason)) }
            guard fields.count == columns.count else {
                return .failure(ParseFailure(reason: "expected \(columns.count) fields as in the header, found \(fields.count)"))
            }
            let sha = columns.sha256.map { fields[$0] }
            return item(id: fields[columns.id], path: fields[columns.path], sha256: sha?.isEmpty == true ? nil : sha)
        }

        func item(id: String, path: String, sha256: String?) -> Result<InputItem, ParseFailure> {
            if id.isEmpty { return .failure(ParseFailure(reason: "empty id")) }
            if path.isEmpty { return .failure(ParseFailure(id: id, reason: "empty path")) }
            var digest: String?
            if let sha256 {
                let lower = sha256.lowercased()
                guard lower.utf8.count == 64, lower.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
                    return .failure(ParseFailure(id: id, reason: "sha256 must be 64 hex digits, got '\(sha256)'"))
                }
                digest = lower
            }
            let resolved = path.hasPrefix("/") ? path : listing.directory + "/" + path
            return .success(InputItem(id: id, path: resolved, sha256: digest))
        }
    }
}

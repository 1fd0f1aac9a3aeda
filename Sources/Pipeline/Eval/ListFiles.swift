import UntrustedInput
import Foundation

/// A fold's validation lists (spec §4.2): the query candidates in order (`data_list_<fold>.txt`)
/// and the support pool of each fold class (`sub_class_file_list_<fold>.txt`).
public struct EvalLists: Sendable, Equatable {
    public var queries: [ImagePair]
    /// Class id → its support candidates, in list order.
    public var pools: [Int: [ImagePair]]

    public init(queries: [ImagePair], pools: [Int: [ImagePair]]) {
        self.queries = queries
        self.pools = pools
    }

    /// Shaban's small-object rule: a class counts for an image only with at least 2·32·32 pixels
    /// at the original size.
    public static let minimumClassPixels = 2 * 32 * 32

    // MARK: reading

    /// Reads both files; a malformed line or literal, or a path outside `layout`'s root, is an
    /// error naming the file and line, raised before any listed file is opened.
    public static func load(dataList: String, classPools: String, layout: DatasetLayout) throws -> EvalLists {
        let lines = try parseDataListLines(try readText(dataList), file: dataList)
        for (line, pair) in lines { try layout.checkInside(pair, at: "\(dataList):\(line)") }
        let entries = try PythonDictLiteral.parseClassPools(try readText(classPools), file: classPools)
        var pools: [Int: [ImagePair]] = [:]
        for (key, pairs) in entries {
            pools[key] = try pairs.enumerated().map { i, paths in
                let pair = ImagePair(image: paths.0, label: paths.1)
                try layout.checkInside(pair, at: "\(classPools): class \(key), entry \(i + 1)")
                return pair
            }
        }
        return EvalLists(queries: lines.map(\.pair), pools: pools)
    }

    /// List files are read whole; 256 MiB is far above COCO's largest (a few MB).
    static let maxListFileBytes = 256 << 20

    /// The text of a list or episode file, which must be a regular file (a FIFO must not hang the
    /// evaluation).
    static func readText(_ path: String) throws -> String {
        let bytes: [UInt8]
        do { bytes = try RegularFile.readAll(path, limit: maxListFileBytes, what: "list file") } catch let error as FileAccessError {
            throw PipelineError(path, error.reason)
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw PipelineError(path, "is not UTF-8 text") }
        return text
    }

    /// `<image> <label>` per line, one space between (the authors split on a single space);
    /// blank lines are skipped.
    public static func parseDataList(_ text: String, file: String) throws -> [ImagePair] {
        try parseDataListLines(text, file: file).map(\.pair)
    }

    /// The pairs with their 1-based line numbers, for errors found after parsing.
    static func parseDataListLines(_ text: String, file: String) throws -> [(line: Int, pair: ImagePair)] {
        var pairs: [(line: Int, pair: ImagePair)] = []
        // "\r\n" is one Character in Swift, so it is a separator of its own.
        for (n, line) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).enumerated() {
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count == 2, !fields[0].isEmpty, !fields[1].isEmpty else {
                throw PipelineError("\(file):\(n + 1)", "expected '<image path> <label path>' separated by one space, got '\(line)'")
            }
            pairs.append((n + 1, ImagePair(image: String(fields[0]), label: String(fields[1]))))
        }
        guard !pairs.isEmpty else { throw PipelineError(file, "lists no image") }
        return pairs
    }

    /// Checks the lists against the fold before any work: every fold class has a pool and no
    /// foreign class appears (a list of another fold would otherwise evaluate silently).
    public func validate(classes: [Int], file: String) throws {
        for c in pools.keys.sorted() where !classes.contains(c) {
            throw PipelineError(file, "class \(c) is not a class of this fold (\(classes.map(String.init).joined(separator: ", ")))")
        }
        for c in classes where pools[c] == nil {
            throw PipelineError(file, "has no support pool for fold class \(c)")
        }
    }

    // MARK: writing (the authors' format)

    public func dataListText() -> String { queries.map { "\($0.image) \($0.label)\n" }.joined() }

    /// One line, `{1: [('a.jpg', 'a.png'), ...], 2: [...]}`, keys ascending, as Python prints it.
    public func classPoolText() -> String {
        func quoted(_ s: String) -> String { "'" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'" }
        let body = pools.keys.sorted().map { c in
            "\(c): [" + pools[c]!.map { "(\(quoted($0.image)), \(quoted($0.label)))" }.joined(separator: ", ") + "]"
        }.joined(separator: ", ")
        return "{" + body + "}\n"
    }

    public func write(to layout: DatasetLayout, fold: Int) throws {
        try AtomicFile.write(Array(dataListText().utf8), to: layout.dataListFile(fold: fold))
        try AtomicFile.write(Array(classPoolText().utf8), to: layout.classPoolFile(fold: fold))
    }
}

/// Builds a fold's lists from the label images with the rule of the authors' (commented-out)
/// `make_dataset`: an image is a query candidate if some fold class covers ≥ 2048 pixels of it,
/// and it joins the pool of each such class.
public struct EvalListBuilder {
    public var layout: DatasetLayout
    public var decoder: ImageDecoder

    public init(layout: DatasetLayout, decoder: ImageDecoder = ImageDecoder()) {
        self.layout = layout
        self.decoder = decoder
    }

    /// The images to consider, as list paths: the authors' source list (`lists/<ds>/val.txt`,
    /// paths relative to the dataset folder) when present, else every `.png` of the label folder
    /// in byte order, each with the same-named `.jpg` of the image folder.
    public func candidates() throws -> [ImagePair] {
        if FileManager.default.fileExists(atPath: layout.sourceListFile) {
            let source = layout.sourceListFile
            return try EvalLists.parseDataListLines(try EvalLists.readText(source), file: source).map { line, pair in
                let listed = ImagePair(image: layout.listed(pair.image), label: layout.listed(pair.label))
                try layout.checkInside(listed, at: "\(source):\(line)")
                return listed
            }
        }
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: layout.labelFolder) else {
            throw PipelineError(layout.labelFolder, "no list files under \(layout.valListFolder) and no label folder to build them from")
        }
        let labels = names.filter { $0.hasSuffix(".png") && !$0.hasPrefix(".") }
            .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        guard !labels.isEmpty else { throw PipelineError(layout.labelFolder, "holds no .png label") }
        return labels.map { name in
            let stem = String(name.dropLast(4))
            return ImagePair(image: layout.listed(layout.dataset.imageFolder + "/" + stem + ".jpg"),
                             label: layout.listed(layout.dataset.labelFolder + "/" + name))
        }
    }

    /// A label that cannot be read is an error naming it: lists are built before any work.
    public func build(fold: Int) throws -> EvalLists {
        let classes = layout.dataset.foldClasses(fold)
        var queries: [ImagePair] = []
        var pools: [Int: [ImagePair]] = Dictionary(uniqueKeysWithValues: classes.map { ($0, []) })
        for pair in try candidates() {
            let path = layout.resolve(pair.label)
            let label: LabelImage
            do { label = try decoder.decodeLabelFile(path) } catch { throw PipelineError(path, "label: \(error)") }
            var counts: [Int: Int] = [:]
            for v in label.values { counts[Int(v), default: 0] += 1 }
            let kept = classes.filter { (counts[$0] ?? 0) >= EvalLists.minimumClassPixels }
            guard !kept.isEmpty else { continue }
            queries.append(pair)
            for c in kept { pools[c]!.append(pair) }
        }
        guard !queries.isEmpty else {
            throw PipelineError(layout.labelFolder, "no image has a fold-\(fold) class of at least \(EvalLists.minimumClassPixels) pixels")
        }
        return EvalLists(queries: queries, pools: pools)
    }
}

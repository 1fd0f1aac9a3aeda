import Foundation

/// The two benchmarks of the paper and their fold splits (spec §4.1).
public enum EvalDataset: String, Sendable, CaseIterable {
    case pascal, coco

    /// The fold's novel (evaluated) classes in ascending order; `subcls` is the index in this list.
    public func foldClasses(_ fold: Int) -> [Int] {
        switch self {
        case .pascal: Array((5 * fold + 1)...(5 * fold + 5))
        // Every COCO config sets use_split_coco: True, the interleaved split.
        case .coco: Array(stride(from: fold + 1, through: 80, by: 4))
        }
    }

    /// The dataset folder under the data root, as the authors' lists name it (`../data/<this>/…`).
    var base: String {
        switch self {
        case .pascal: "VOCdevkit2012/VOC2012"
        case .coco: "MSCOCO2014"
        }
    }

    var imageFolder: String { self == .pascal ? "JPEGImages" : "val2014" }
    var labelFolder: String { self == .pascal ? "SegmentationClassAug" : "annotations/val2014" }
}

/// An (image, label) pair exactly as a list file spells it; resolved to files by `DatasetLayout`.
/// Kept verbatim so episode files compare with other tools' (the authors' lists say `../data/…`).
public struct ImagePair: Hashable, Sendable, Codable {
    public var image: String
    public var label: String

    public init(image: String, label: String) {
        self.image = image
        self.label = label
    }
}

/// Where the data and the lists are (spec §4.6):
/// ```
/// <parent>/FSSAM/lists/<ds>/fss_list/val/   default --lists (ROOT/../FSSAM/lists)
/// <parent>/data/                            --root
///   VOCdevkit2012/VOC2012/{JPEGImages,SegmentationClassAug}
///   MSCOCO2014/{val2014,annotations/val2014}
/// ```
/// The authors run from `<parent>/FSSAM`, so their list paths read `../data/…`. Such a path is
/// taken relative to `--root` (so the lists work wherever the data is); any other relative path
/// is relative to the folder holding `lists/` (the authors' working directory); absolute paths
/// are used as they are.
public struct DatasetLayout: Sendable {
    public var dataset: EvalDataset
    public var root: String
    public var lists: String

    public init(dataset: EvalDataset, root: String, lists: String? = nil) {
        self.dataset = dataset
        self.root = Self.trimmed(root)
        self.lists = Self.trimmed(lists ?? (self.root as NSString).appendingPathComponent("../FSSAM/lists"))
    }

    static func trimmed(_ path: String) -> String {
        path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
    }

    /// `lists/<ds>/fss_list/val/`
    public var valListFolder: String { "\(lists)/\(dataset.rawValue)/fss_list/val" }
    public func dataListFile(fold: Int) -> String { "\(valListFolder)/data_list_\(fold).txt" }
    public func classPoolFile(fold: Int) -> String { "\(valListFolder)/sub_class_file_list_\(fold).txt" }
    /// The authors' source list for `make_dataset` (paths relative to the dataset folder).
    public var sourceListFile: String { "\(lists)/\(dataset.rawValue)/val.txt" }

    public var datasetFolder: String { "\(root)/\(dataset.base)" }
    public var imageFolder: String { "\(datasetFolder)/\(dataset.imageFolder)" }
    public var labelFolder: String { "\(datasetFolder)/\(dataset.labelFolder)" }

    static let authorsDataPrefix = "../data/"

    /// The file a list path names.
    public func resolve(_ listed: String) -> String {
        if listed.hasPrefix("/") { return listed }
        if listed.hasPrefix(Self.authorsDataPrefix) { return root + "/" + listed.dropFirst(Self.authorsDataPrefix.count) }
        let workingDirectory = URL(fileURLWithPath: lists).deletingLastPathComponent().path
        return (workingDirectory.isEmpty ? "." : workingDirectory) + "/" + listed
    }

    /// The file a list path names, only if it lies inside `--root`; otherwise the reason, for the
    /// caller to report with its file and line. Lists are data: a `../../etc/shadow` or an
    /// absolute path elsewhere must not make us open (as whoever runs fssam) a file outside the
    /// dataset. The check is lexical (`.` and `..` folded, against the absolute root), so a
    /// dataset whose folders are symbolic links to other disks still works.
    public func resolveInside(_ listed: String) -> Result<String, PipelineError> {
        let resolved = resolve(listed)
        let rootPath = Self.lexicallyNormalised(root)
        let path = Self.lexicallyNormalised(resolved)
        guard path.hasPrefix(rootPath == "/" ? "/" : rootPath + "/") else {
            return .failure(PipelineError(listed, "path '\(listed)' escapes --root (\(root)); list paths must name files inside it"))
        }
        return .success(resolved)
    }

    /// Both paths of `pair` inside the root, or an error at `location` (`file:line`).
    func checkInside(_ pair: ImagePair, at location: String) throws {
        for listed in [pair.image, pair.label] {
            if case .failure(let error) = resolveInside(listed) { throw PipelineError(location, error.reason) }
        }
    }

    /// `path` made absolute (against the working directory) with `.`, `..` and repeated `/` folded,
    /// without touching the file system.
    static func lexicallyNormalised(_ path: String) -> String {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        var parts: [Substring] = []
        for part in absolute.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..": if !parts.isEmpty { parts.removeLast() }
            default: parts.append(part)
            }
        }
        return "/" + parts.joined(separator: "/")
    }

    /// How the authors' lists would spell a file `relative` to the dataset folder.
    public func listed(_ relative: String) -> String { Self.authorsDataPrefix + dataset.base + "/" + relative }
}

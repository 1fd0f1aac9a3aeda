/// COCO's `image_id` is an integer in COCO's own annotation files, but our items are named by
/// path; both spellings are accepted by pycocotools' `loadRes` as long as they match the ground truth.
public enum COCOImageID: Sendable, Hashable {
    case number(Int)
    case name(String)

    var json: String {
        switch self {
        case .number(let n): return String(n)
        case .name(let s): return CanonicalJSON.string(s)
        }
    }
}

/// One segmentation result for `predictions.json`, in COCO results format.
public struct Prediction: Sendable, Equatable {
    /// Our item id: the sort key of the file, not written (COCO's field is `image_id`).
    public let itemID: String
    public let imageID: COCOImageID
    public let categoryID: Int
    public let segmentation: COCORLE
    public let score: Double
    /// `bbox` and `area` are optional in COCO results (the evaluator derives them from the RLE);
    /// they help readers who do not decode masks.
    public let includeBoxAndArea: Bool

    public init(itemID: String, imageID: COCOImageID, categoryID: Int, segmentation: COCORLE, score: Double,
                includeBoxAndArea: Bool = true) {
        self.itemID = itemID
        self.imageID = imageID
        self.categoryID = categoryID
        self.segmentation = segmentation
        self.score = score
        self.includeBoxAndArea = includeBoxAndArea
    }

    /// The entry as one JSON object, keys in a fixed order.
    public func json() throws -> String {
        let rle = segmentation
        var fields: [(String, String)] = [
            ("image_id", imageID.json),
            ("category_id", String(categoryID)),
            ("segmentation", CanonicalJSON.object([
                ("size", CanonicalJSON.array([String(rle.height), String(rle.width)])),
                ("counts", CanonicalJSON.string(rle.countsString)),
            ])),
            ("score", try CanonicalJSON.number(score, field: "\(itemID): score")),
        ]
        if includeBoxAndArea {
            fields.append(("bbox", CanonicalJSON.array(rle.bbox.map { String($0) })))
            fields.append(("area", String(rle.area)))
        }
        return CanonicalJSON.object(fields)
    }
}

/// Writes `predictions.json`: a JSON array, one entry per line (diffable), sorted by item id and,
/// for several entries of one item, by their own bytes — so the same records give the same file
/// whatever order the workers finished in. Written atomically: readers never see half a file.
public enum PredictionsWriter {
    public static func render(_ predictions: [Prediction]) throws -> [UInt8] {
        let lines = try predictions.map { ($0.itemID, try $0.json()) }.sorted { a, b in
            if !a.0.utf8.elementsEqual(b.0.utf8) { return ItemOrder.precedes(a.0, b.0) }
            return ItemOrder.precedes(a.1, b.1)
        }
        if lines.isEmpty { return Array("[]\n".utf8) }
        return Array(("[\n" + lines.map(\.1).joined(separator: ",\n") + "\n]\n").utf8)
    }

    public static func write(_ predictions: [Prediction], to path: String) throws {
        try AtomicFile.write(try render(predictions), to: path)
    }
}

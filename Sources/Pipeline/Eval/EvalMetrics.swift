/// Intersection and union counts of one episode for background (0) and foreground (1), with the
/// target's 255 pixels excluded from both, as the authors' `intersectionAndUnionGPU` does
/// (`output[target == 255] = 255`, then 2-bin histograms over 0…1 that 255 falls outside of).
public struct EpisodeCounts: Sendable, Equatable, Codable {
    public var intersection: [Int]
    public var union: [Int]

    public init(intersection: [Int], union: [Int]) {
        self.intersection = intersection
        self.union = union
    }

    /// `prediction`: 0 / 1 (anything nonzero counts as 1); `target`: 0 / 1 / 255, same length.
    public init(prediction: [UInt8], target: [UInt8]) {
        precondition(prediction.count == target.count, "prediction and target sizes differ")
        var predicted = [0, 0], actual = [0, 0], both = [0, 0]
        for i in 0..<target.count {
            let t = target[i]
            if t == EvalLabel.ignore { continue }
            let p = prediction[i] == 0 ? 0 : 1
            let k = t == 0 ? 0 : 1
            predicted[p] += 1
            actual[k] += 1
            if p == k { both[k] += 1 }
        }
        intersection = both
        union = [predicted[0] + actual[0] - both[0], predicted[1] + actual[1] - both[1]]
    }
}

/// The accumulated metrics of one evaluation (spec §4.5): per fold class the sums of foreground
/// intersections and unions over every episode of that class (IoU = ΣI / (ΣU + 1e-10), not a mean
/// of per-episode IoUs; a class never drawn has IoU 0 and still counts in the mean), mIoU over the
/// fold's classes, and FB-IoU from background and foreground sums over all episodes.
public struct EvalMetrics: Sendable, Equatable {
    public let classes: [Int]
    public private(set) var classIntersection: [Int]
    public private(set) var classUnion: [Int]
    public private(set) var classEpisodes: [Int]
    /// Σ over episodes of I[k] / U[k], k = 0 (background), 1 (foreground).
    public private(set) var intersection = [0, 0]
    public private(set) var union = [0, 0]
    public private(set) var episodes = 0

    public static let epsilon = 1e-10

    public init(classes: [Int]) {
        self.classes = classes
        classIntersection = Array(repeating: 0, count: classes.count)
        classUnion = Array(repeating: 0, count: classes.count)
        classEpisodes = Array(repeating: 0, count: classes.count)
    }

    public mutating func add(_ counts: EpisodeCounts, classID: Int) {
        guard let c = classes.firstIndex(of: classID) else { preconditionFailure("class \(classID) is not a fold class") }
        classIntersection[c] += counts.intersection[1]
        classUnion[c] += counts.union[1]
        classEpisodes[c] += 1
        for k in 0..<2 {
            intersection[k] += counts.intersection[k]
            union[k] += counts.union[k]
        }
        episodes += 1
    }

    public var classIoU: [Double] {
        zip(classIntersection, classUnion).map { Double($0) / (Double($1) + Self.epsilon) }
    }

    public var meanIoU: Double { classIoU.reduce(0, +) / Double(classes.count) }

    public var foregroundBackgroundIoU: Double {
        (0..<2).map { Double(intersection[$0]) / (Double(union[$0]) + Self.epsilon) }.reduce(0, +) / 2
    }

    /// The authors' third number, foreground IoU pooled over all episodes.
    public var pooledForegroundIoU: Double { Double(intersection[1]) / (Double(union[1]) + Self.epsilon) }
}

import Foundation
import Pipeline

/// A miniature PASCAL-layout dataset (96×64 images) whose labels the tests know pixel by pixel:
/// `ROOT/VOCdevkit2012/VOC2012/{JPEGImages,SegmentationClassAug}`. Fold 0 = classes 1…5.
///
/// | image | label content                                                      |
/// |-------|--------------------------------------------------------------------|
/// | img0  | class 1 rows 0..<40 (2560 px), 255 on rows 40..<42, class 6 below   |
/// | img1  | class 1 rows 20..<64 (4224 px), class 2 10×10 at (0,0) (too small)  |
/// | img2  | class 2 rows 0..<30 (2880 px), 255 border column 0                  |
/// | img3  | class 2 rows 0..<24 (2304 px), class 3 rows 30..<64 (3264 px)       |
/// | img4  | class 1 cols 10..<60 all rows (3200 px)                             |
/// | img5  | class 3 rows 8..<48 (3840 px)                                       |
/// | img6  | class 6 only (another fold: in no fold-0 list)                      |
struct EvalMiniDataset {
    static let width = 96, height = 64
    let root: String

    var voc: String { root + "/VOCdevkit2012/VOC2012" }

    /// The label of image `i`, row-major.
    static func label(_ i: Int) -> [UInt8] {
        var l = [UInt8](repeating: 0, count: width * height)
        func fill(_ rows: Range<Int>, _ cols: Range<Int>, _ v: UInt8) {
            for r in rows { for c in cols { l[r * width + c] = v } }
        }
        switch i {
        case 0: fill(0..<40, 0..<96, 1); fill(40..<42, 0..<96, 255); fill(50..<60, 0..<20, 6)
        case 1: fill(20..<64, 0..<96, 1); fill(0..<10, 0..<10, 2)
        case 2: fill(0..<30, 0..<96, 2); fill(0..<64, 0..<1, 255)
        case 3: fill(0..<24, 0..<96, 2); fill(30..<64, 0..<96, 3)
        case 4: fill(0..<64, 10..<60, 1)
        case 5: fill(8..<48, 0..<96, 3)
        default: fill(0..<64, 0..<50, 6)
        }
        return l
    }

    static let count = 7

    /// Writes the images (a gradient, brighter where the label is nonzero) and labels.
    static func write(root: String) throws -> EvalMiniDataset {
        let d = EvalMiniDataset(root: root)
        for i in 0..<count {
            let label = Self.label(i)
            var rgb = [UInt8](repeating: 0, count: width * height * 3)
            for p in 0..<(width * height) {
                for c in 0..<3 {
                    rgb[p * 3 + c] = label[p] == 0 ? UInt8((p % width + p / width * 2 + 40 * c + 13 * i) % 150)
                                                   : UInt8(160 + (Int(label[p]) * 11 + 30 * c) % 90)
                }
            }
            try AtomicFile.write(try ImageEncoder.png(width: width, height: height, bands: 3, pixels: rgb),
                                 to: d.voc + "/JPEGImages/img\(i).jpg")
            try AtomicFile.write(try ImageEncoder.png(width: width, height: height, bands: 1, pixels: label),
                                 to: d.voc + "/SegmentationClassAug/img\(i).png")
        }
        return d
    }

    static func pair(_ i: Int) -> ImagePair {
        ImagePair(image: "../data/VOCdevkit2012/VOC2012/JPEGImages/img\(i).jpg",
                  label: "../data/VOCdevkit2012/VOC2012/SegmentationClassAug/img\(i).png")
    }

    static func index(of pair: ImagePair) -> Int { Int(pair.label.dropLast(4).split(separator: "img").last!)! }
}

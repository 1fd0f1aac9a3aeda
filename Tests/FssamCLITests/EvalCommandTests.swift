import XCTest
import FixtureSupport
import Pipeline

/// `fssam eval` end to end: the real binary, synthetic weights, a four-image PASCAL-layout dataset
/// with the authors' list files. The reported metrics are recomputed here from the saved
/// predictions, the labels and the episode list.
final class EvalCommandTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fssam-evalcmd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    func fssam(_ arguments: [String]) throws -> ProcessResult { try runProcess(BuiltProducts.executable("fssam"), arguments) }

    static let side = 48

    /// Image i: class 1 in a band whose position depends on i, class 2 in a corner for odd i,
    /// and a 255 boundary row under the band.
    static func label(_ i: Int) -> [UInt8] {
        var l = [UInt8](repeating: 0, count: side * side)
        for r in (4 + 3 * i)..<(24 + 3 * i) { for c in (2 + 2 * i)..<(40 - i) { l[r * side + c] = 1 } }
        for c in 0..<side { l[(25 + 3 * i) * side + c] = 255 }
        if i % 2 == 1 { for r in 36..<46 { for c in 30..<46 { l[r * side + c] = 2 } } }
        return l
    }

    func writeDataset() throws {
        let voc = path("data/VOCdevkit2012/VOC2012")
        var dataList = "", pool1: [String] = [], pool2: [String] = []
        for i in 0..<4 {
            let label = Self.label(i)
            let rgb = (0..<(Self.side * Self.side * 3)).map { k in
                label[k / 3] == 1 ? UInt8(200 + k % 3 * 20) : label[k / 3] == 2 ? UInt8(40 + k % 3 * 60) : UInt8((k * 7 + i * 31) % 140)
            }
            try AtomicFile.write(try ImageEncoder.png(width: Self.side, height: Self.side, bands: 3, pixels: rgb),
                                 to: voc + "/JPEGImages/i\(i).jpg")
            try AtomicFile.write(try ImageEncoder.png(width: Self.side, height: Self.side, bands: 1, pixels: label),
                                 to: voc + "/SegmentationClassAug/i\(i).png")
            let pair = "('../data/VOCdevkit2012/VOC2012/JPEGImages/i\(i).jpg', '../data/VOCdevkit2012/VOC2012/SegmentationClassAug/i\(i).png')"
            dataList += "../data/VOCdevkit2012/VOC2012/JPEGImages/i\(i).jpg ../data/VOCdevkit2012/VOC2012/SegmentationClassAug/i\(i).png\n"
            pool1.append(pair)
            if i % 2 == 1 { pool2.append(pair) }
        }
        let lists = path("lists/pascal/fss_list/val")
        try AtomicFile.write(Array(dataList.utf8), to: lists + "/data_list_0.txt")
        let dict = "{1: [\(pool1.joined(separator: ", "))], 2: [\(pool2.joined(separator: ", "))], 3: [], 4: [], 5: []}\n"
        try AtomicFile.write(Array(dict.utf8), to: lists + "/sub_class_file_list_0.txt")
    }

    func testEvalReportsMetricsThatTheSavedPredictionsReproduceAndReplaysEpisodesInASweep() throws {
        try writeDataset()
        let common = ["eval", "--dataset", "pascal", "--root", path("data"), "--lists", path("lists"), "--fold", "0",
                      "--weights", "synthetic", "--cache", path("cache")]
        let first = try fssam(common + ["--episodes", "3", "--seed", "5", "--out", path("out"), "--save-predictions", path("pred"),
                                        "--write-episodes", path("episodes.jsonl")])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stdout.contains("pascal fold 0, 1-shot: 3 of 3 episodes evaluated, seed 5"), first.stdout)
        XCTAssertTrue(first.stdout.contains("query.sam2_features"), first.stdout)

        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("out/report.json")))) as! [String: Any]
        let result = (report["results"] as! [[String: Any]])[0]
        XCTAssertEqual(result["setting"] as? String, "default")

        // Recompute from the files: prediction PNG (nonzero = 1), label binarised for the class, 255 skipped.
        let lines = try String(contentsOfFile: path("pred/episodes.jsonl"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 3)
        XCTAssertEqual(try String(contentsOfFile: path("episodes.jsonl"), encoding: .utf8),
                       try String(contentsOfFile: path("pred/episodes.jsonl"), encoding: .utf8))
        var classI = [Int](repeating: 0, count: 6), classU = [Int](repeating: 0, count: 6), fbI = [0, 0], fbU = [0, 0]
        for line in lines {
            let e = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let n = e["episode"] as! Int, c = e["class"] as! Int
            let labelName = ((e["query"] as! [String: String])["label"]!)
            let i = Int(labelName.dropLast(4).split(separator: "/").last!.dropFirst())!
            let label = Self.label(i)
            let png = try ImageDecoder().decodeLabelFile(path("pred/" + String(format: "episode-%05d.png", n)))
            XCTAssertEqual([png.width, png.height], [Self.side, Self.side])
            for k in 0..<2 {
                var inter = 0, union = 0
                for px in label.indices where label[px] != 255 {
                    let t = Int(label[px]) == c ? 1 : 0, p = png.values[px] == 0 ? 0 : 1
                    inter += (t == k && p == k) ? 1 : 0
                    union += (t == k || p == k) ? 1 : 0
                }
                fbI[k] += inter; fbU[k] += union
                if k == 1 { classI[c] += inter; classU[c] += union }
            }
        }
        let mIoU = (1...5).map { Double(classI[$0]) / (Double(classU[$0]) + 1e-10) }.reduce(0, +) / 5
        let fb = (0..<2).map { Double(fbI[$0]) / (Double(fbU[$0]) + 1e-10) }.reduce(0, +) / 2
        XCTAssertEqual(result["miou"] as! Double, mIoU, accuracy: 1e-9)
        XCTAssertEqual(result["fb_iou"] as! Double, fb, accuracy: 1e-9)
        XCTAssertEqual(result["union"] as! [Int], fbU)

        // Replaying the episodes in a sweep: the default value gives the first run's figures exactly.
        let sweep = try fssam(common + ["--episode-list", path("episodes.jsonl"), "--sweep", "imr.iterations=3,2", "--json"])
        XCTAssertEqual(sweep.status, 0, sweep.stderr)
        let swept = try JSONSerialization.jsonObject(with: Data(sweep.stdout.utf8)) as! [String: Any]
        let results = swept["results"] as! [[String: Any]]
        XCTAssertEqual(results.map { $0["setting"] as! String }, ["imr.iterations=3", "imr.iterations=2"])
        XCTAssertEqual(results[0]["miou"] as! Double, result["miou"] as! Double)
        XCTAssertEqual(results[0]["union"] as! [Int], fbU)
    }

    func testMalformedListsFailBeforeAnyWorkNamingFileAndLine() throws {
        try writeDataset()
        try AtomicFile.write(Array("{1: [('a.jpg', 'a.png')],\n 2: [('b.jpg' 'b.png')]}\n".utf8),
                             to: path("lists/pascal/fss_list/val/sub_class_file_list_0.txt"))
        let result = try fssam(["eval", "--dataset", "pascal", "--root", path("data"), "--lists", path("lists"), "--fold", "0",
                                "--weights", "synthetic", "--cache", path("cache")])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains("sub_class_file_list_0.txt:2:15: expected ','"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("cache")), "nothing ran")
    }
    /// A query label that cannot be read (here a palette PNG whose colours are not class values)
    /// fails its episodes only: the evaluation completes, reports them and exits 2.
    func testAnUnreadableQueryLabelFailsOnlyItsEpisodes() throws {
        try writeDataset()
        let label = path("data/VOCdevkit2012/VOC2012/SegmentationClassAug/i2.png")
        let rgb = (0..<(Self.side * Self.side * 3)).map { UInt8($0 % 3 * 90) }
        try AtomicFile.write(try ImageEncoder.png(width: Self.side, height: Self.side, bands: 3, pixels: rgb), to: label)
        let result = try runProcess(BuiltProducts.executable("fssam"),
                                    ["eval", "--dataset", "pascal", "--root", path("data"), "--lists", path("lists"), "--fold", "0",
                                     "--episodes", "8", "--weights", "synthetic", "--cache", path("cache"), "--out", path("out")],
                                    timeout: 300)
        XCTAssertTrue(result.isOrderly, result.description)
        XCTAssertEqual(result.status, 2, result.description)
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("out/report.json")))) as! [String: Any]
        let failed = report["failed"] as! [[String: Any]]
        XCTAssertEqual(report["failed_count"] as? Int, failed.count)
        XCTAssertTrue(failed.contains { ($0["subject"] as? String) == label && ($0["reason"] as? String)?.hasPrefix("query label: ") == true },
                      "\(failed)")
        XCTAssertEqual((report["evaluated"] as! Int) + failed.count, 8)
    }

    /// A FIFO as `--episode-list` is refused at once instead of blocking the evaluation.
    func testAFIFOEpisodeListIsRefusedWithoutBlocking() throws {
        try writeDataset()
        XCTAssertEqual(mkfifo(path("episodes.jsonl"), 0o600), 0)
        let result = try runProcess(BuiltProducts.executable("fssam"),
                                    ["eval", "--dataset", "pascal", "--root", path("data"), "--lists", path("lists"), "--fold", "0",
                                     "--episode-list", path("episodes.jsonl"), "--weights", "synthetic", "--cache", path("cache")],
                                    timeout: 30)
        XCTAssertTrue(result.isOrderly, result.description)
        XCTAssertEqual(result.status, 1, result.description)
        XCTAssertTrue(result.stderr.contains("is a named pipe (FIFO), not a regular file"), result.stderr)
    }
}

import XCTest
import Pipeline

/// The authors' list files: the data list, the class-pool dict literal (parsed, never executed),
/// and building both from label images with the 2048-pixel rule.
final class EvalListFilesTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fssam-evallists-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func testClassPoolLiteralParsesTheAuthorsFormatInFileOrder() throws {
        let text = "{1: [('../data/a.jpg', '../data/a.png'), ('../data/b.jpg', '../data/b.png')], 2: [], "
            + "3: [(\"x y.jpg\", 'it\\'s.png',),],\n}\n"
        let pools = try PythonDictLiteral.parseClassPools(text, file: "pools.txt")
        XCTAssertEqual(pools.map(\.key), [1, 2, 3])
        XCTAssertEqual(pools[0].pairs.map { [$0.0, $0.1] }, [["../data/a.jpg", "../data/a.png"], ["../data/b.jpg", "../data/b.png"]])
        XCTAssertTrue(pools[1].pairs.isEmpty)
        XCTAssertEqual(pools[2].pairs.map { [$0.0, $0.1] }, [["x y.jpg", "it's.png"]])
    }

    func testMalformedClassPoolsNameFileLineAndReason() {
        let cases: [(String, String)] = [
            ("{1: [('a.jpg', 'a.png')]", "pools.txt:1:25: expected '}'"),
            ("{1: [('a.jpg', 'a.png')], 1: []}", "class 1 appears twice"),
            ("{1: [('a.jpg')]}", "expected ','"),
            ("{1: [('a.jpg', __import__('os'))]}", "expected a quoted path"),
            ("{1: []}\n{2: []}", "pools.txt:2:1: unexpected '{' after the closing '}'"),
            ("{'1': []}", "expected a class id"),
            ("{1: [('a.jpg', 'a.png\n')]}", "line break inside a string"),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try PythonDictLiteral.parseClassPools(text, file: "pools.txt"), text) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(text) → \(error)")
                XCTAssertTrue("\(error)".hasPrefix("pools.txt:"), "\(error)")
            }
        }
    }

    func testDataListParsesPairsAndRejectsABadLineByNumber() throws {
        let pairs = try EvalLists.parseDataList("a.jpg a.png\nb.jpg b.png\r\n\n", file: "list.txt")
        XCTAssertEqual(pairs, [ImagePair(image: "a.jpg", label: "a.png"), ImagePair(image: "b.jpg", label: "b.png")])
        XCTAssertThrowsError(try EvalLists.parseDataList("a.jpg a.png\nb.jpg b.png\nc.jpg\n", file: "list.txt")) { error in
            XCTAssertTrue("\(error)".hasPrefix("list.txt:3: expected '<image path> <label path>'"), "\(error)")
        }
        XCTAssertThrowsError(try EvalLists.parseDataList("a.jpg  a.png\n", file: "list.txt")) { error in
            XCTAssertTrue("\(error)".hasPrefix("list.txt:1:"), "\(error)")
        }
    }

    func testListsAreBuiltFromLabelsWithThe2048PixelRuleAndRoundTripThroughTheAuthorsFormat() throws {
        let root = directory.appendingPathComponent("data").path
        _ = try EvalMiniDataset.write(root: root)
        let layout = DatasetLayout(dataset: .pascal, root: root)
        XCTAssertEqual(layout.lists, root + "/../FSSAM/lists")
        let lists = try EvalListBuilder(layout: layout).build(fold: 0)
        let p = EvalMiniDataset.pair
        // img6 has no fold-0 class; img1's class 2 (100 px) is too small for class 2's pool.
        XCTAssertEqual(lists.queries, [p(0), p(1), p(2), p(3), p(4), p(5)])
        XCTAssertEqual(lists.pools, [1: [p(0), p(1), p(4)], 2: [p(2), p(3)], 3: [p(3), p(5)], 4: [], 5: []])
        XCTAssertEqual(layout.resolve(p(3).image), root + "/VOCdevkit2012/VOC2012/JPEGImages/img3.jpg")

        try lists.write(to: layout, fold: 0)
        XCTAssertEqual(try String(contentsOfFile: layout.classPoolFile(fold: 0), encoding: .utf8).hasPrefix(
            "{1: [('../data/VOCdevkit2012/VOC2012/JPEGImages/img0.jpg', '../data/VOCdevkit2012/VOC2012/SegmentationClassAug/img0.png'), "),
            true)
        let read = try EvalLists.load(dataList: layout.dataListFile(fold: 0), classPools: layout.classPoolFile(fold: 0), layout: layout)
        XCTAssertEqual(read, lists)
        XCTAssertNoThrow(try read.validate(classes: [1, 2, 3, 4, 5], file: "f"))
        XCTAssertThrowsError(try read.validate(classes: [6, 7, 8, 9, 10], file: "f")) { error in
            XCTAssertTrue("\(error)".contains("class 1 is not a class of this fold"), "\(error)")
        }
    }

    func testFoldClassesFollowTheSplits() {
        XCTAssertEqual(EvalDataset.pascal.foldClasses(2), [11, 12, 13, 14, 15])
        XCTAssertEqual(EvalDataset.coco.foldClasses(1).count, 20)
        XCTAssertEqual(EvalDataset.coco.foldClasses(1).prefix(3), [2, 6, 10])
        XCTAssertEqual(EvalDataset.coco.foldClasses(3).last, 80)
    }
}

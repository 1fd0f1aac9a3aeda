import Foundation
import XCTest
import Checkpoint
import FixtureSupport
import Tensor

final class TorchCheckpointTests: XCTestCase {
    private typealias B = TorchFileBuilder
    private typealias P = TorchFileBuilder.P

    private func expected() throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("checkpoint-sample.json")))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// Every model tensor of the sample: dtype, shape, strides, offset, storage size, raw bits and
    /// values, against `checkpoint-sample.json` and the contiguous copies in `.safetensors`.
    func testReadsCheckpointSampleExactly() throws {
        let checkpoint = try TorchCheckpoint(path: Fixtures.path("checkpoint-sample.pt"))
        XCTAssertEqual(checkpoint.archivePrefix, "checkpoint-sample/")
        let json = try expected()
        let model = try XCTUnwrap(json["model"] as? [String: [String: Any]])
        let reference = try SafetensorsFile(path: Fixtures.path("checkpoint-sample.safetensors"))

        guard case .int(3) = checkpoint.root["epoch"] else { return XCTFail("epoch is \(String(describing: checkpoint.root["epoch"]))") }
        let tensors = try checkpoint.tensors(of: try XCTUnwrap(checkpoint.root["model"]), what: "model")
        XCTAssertEqual(Set(tensors.map(\.0)), Set(model.keys))
        XCTAssertEqual(tensors.count, 12)
        let dtypeNames: [String: DType] = ["float32": .f32, "float16": .f16, "bfloat16": .bf16, "int64": .i64, "bool": .bool]
        for (name, tensor) in tensors {
            let e = try XCTUnwrap(model[name])
            XCTAssertEqual(tensor.dtype, dtypeNames[e["dtype"] as! String], name)
            XCTAssertEqual(tensor.shape, e["shape"] as! [Int], name)
            XCTAssertEqual(tensor.strides, e["stride"] as! [Int], name)
            XCTAssertEqual(tensor.storageOffset, e["storage_offset"] as! Int, name)
            XCTAssertEqual(tensor.storage.elementCount, e["storage_numel"] as! Int, name)
            let bytes = try tensor.contiguousBytes()
            XCTAssertEqual(bytes.count, tensor.elementCount * tensor.dtype.byteSize, name)
            if let bits = e["bits_u32"] as? [Int] {
                let got = bytes.withUnsafeBytes { raw in (0..<bits.count).map { Int(raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)) } }
                XCTAssertEqual(got, bits, name)
            }
            if let bits = e["bits_u16"] as? [Int] {
                let got = bytes.withUnsafeBytes { raw in (0..<bits.count).map { Int(raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self)) } }
                XCTAssertEqual(got, bits, name)
            }
            let values = e["values"] as! [Any]
            switch tensor.dtype {
            case .i64:
                XCTAssertEqual(try tensor.int64(), values.map { Int64(($0 as! NSNumber).int64Value) }, name)
            case .bool:
                XCTAssertEqual(bytes, values.map { ($0 as! Bool) ? 1 : 0 }, name)
            default:
                // f16/bf16 widen exactly to float32, so the values compare equal, not just close. (The
                // JSON decimals are the float32 values; Foundation's parser can be an ulp off in
                // Double, which rounding to Float removes. The raw bits were compared above.)
                let floats = try tensor.float32()
                XCTAssertEqual(floats.shape, tensor.shape, name)
                XCTAssertEqual(floats.storage.map(\.bitPattern), values.map { Float(($0 as! NSNumber).doubleValue).bitPattern }, name)
            }
            // The contiguous copy in the safetensors fixture has the same bytes.
            XCTAssertEqual(try reference.rawBytes(name), bytes, "\(name) vs safetensors")
        }
        // The three shared_* tensors view one storage.
        let byName = Dictionary(uniqueKeysWithValues: tensors)
        let shared = ["module.sam2.shared_base", "module.sam2.shared_slice", "module.sam2.shared_t"].map { byName[$0]! }
        XCTAssertEqual(Set(shared.map(\.storage.key)).count, 1)
        XCTAssertFalse(shared[2].isContiguous)
        XCTAssertEqual(try shared[1].float32().storage, [1.0, 1.5, 2.0, 4.0, 4.5, 5.0])
    }

    func testReadsOptimizerAndParameter() throws {
        let checkpoint = try TorchCheckpoint(path: Fixtures.path("checkpoint-sample.pt"))
        let optimizer = try XCTUnwrap(checkpoint.root["optimizer"])
        let groups = try XCTUnwrap(optimizer["param_groups"])
        guard case .list(let list) = groups, case .dict = list.first else { return XCTFail("param_groups is \(groups.kind)") }
        guard case .float(let lr) = list[0]["lr"], case .tuple(let betas) = list[0]["betas"], case PickleValue.none? = list[0]["foreach"],
              case .bool(false) = list[0]["amsgrad"], case .list(let params) = list[0]["params"]
        else { return XCTFail("param_groups[0] fields") }
        XCTAssertEqual(lr, 0.001)
        guard case .float(0.9) = betas[0], case .float(0.999) = betas[1] else { return XCTFail("betas \(betas)") }
        XCTAssertEqual(params.count, 2)
        let state = try XCTUnwrap(optimizer["state"]?.dictEntries)
        guard case .int(0) = state[0].key else { return XCTFail("state key") }
        let expAvg = try XCTUnwrap(state[0].value["exp_avg"]?.tensor)
        XCTAssertEqual(try expAvg.float32().storage, [0.1, 0.05, -0.1, 0.1, 0.05, -0.1])
        let step = try XCTUnwrap(state[0].value["step"]?.tensor)
        XCTAssertEqual(step.shape, [])
        XCTAssertEqual(try step.float32().storage, [1.0])
        let parameter = try XCTUnwrap(checkpoint.root["param_example"]?.tensor)
        XCTAssertEqual(try parameter.float32().storage, [1.5, -2.5])
    }

    func testBuiltCheckpointWithViewsAndArbitraryPrefix() throws {
        let base: [Float] = (0..<12).map { Float($0) }
        let pickle = P.proto2 + P.dict([
            ("w", P.tensor(storage: "0", numel: 12, size: [3, 4], stride: [4, 1])),
            ("wt", P.tensor(storage: "0", numel: 12, size: [4, 3], stride: [1, 4])),
            ("col", P.tensor(storage: "0", numel: 12, offset: 1, size: [3], stride: [4])),
            ("empty", P.tensor(storage: "0", numel: 12, offset: 12, size: [0, 5], stride: [5, 1])),
        ]) + P.stop
        let path = try B.write(B.checkpoint(pickle: pickle, storages: ["0": B.f32(base)], prefix: "my-run_3/"), name: "views.pt")
        let checkpoint = try TorchCheckpoint(path: path)
        XCTAssertEqual(checkpoint.archivePrefix, "my-run_3/")
        let t = Dictionary(uniqueKeysWithValues: try checkpoint.tensors(of: checkpoint.root, what: "root"))
        XCTAssertEqual(try t["w"]!.float32().storage, base)
        XCTAssertEqual(try t["wt"]!.float32().storage, [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11])
        XCTAssertEqual(try t["col"]!.float32().storage, [1, 5, 9])
        XCTAssertEqual(try t["empty"]!.float32().shape, [0, 5])
    }

    /// Archives over 4 GB carry their sizes and offsets in ZIP64 extra fields.
    func testReadsZip64Archive() throws {
        let pickle = P.proto2 + P.dict([("w", P.tensor(storage: "0", numel: 3, size: [3], stride: [1]))]) + P.stop
        let path = try B.write(B.checkpoint(pickle: pickle, storages: ["0": B.f32([1, -2, 3])], zip64: true), name: "zip64.pt")
        let checkpoint = try TorchCheckpoint(path: path)
        XCTAssertEqual(try checkpoint.root["w"]?.tensor?.float32().storage, [1, -2, 3])
    }

    // MARK: Hostile files

    /// Loading `bytes` must throw a CheckpointError whose text contains every fragment.
    private func assertRefused(_ bytes: [UInt8], _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let path = try B.write(bytes, name: "hostile-\(line).pt")
        XCTAssertThrowsError(try TorchCheckpoint(path: path), file: file, line: line) { error in
            guard let error = error as? CheckpointError else { return XCTFail("not a CheckpointError: \(error)", file: file, line: line) }
            XCTAssertEqual(error.file, path, file: file, line: line)
            for f in fragments { XCTAssertTrue(error.reason.contains(f), "'\(error.reason)' lacks '\(f)'", file: file, line: line) }
        }
    }

    private func pickleFile(_ pickle: [UInt8], storages: [String: [UInt8]] = [:]) -> [UInt8] {
        B.checkpoint(pickle: pickle, storages: storages)
    }

    func testRefusesOsSystem() throws {
        let pickle = P.proto2 + P.global("os", "system") + P.str("echo pwned > /tmp/fssam-pwned") + P.tuple1 + P.reduce + P.stop
        try assertRefused(pickleFile(pickle), ["global 'os.system' is not allowed"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/tmp/fssam-pwned"))
    }

    func testRefusesBuiltinsEvalViaStackGlobal() throws {
        // Protocol 4 spelling: SHORT_BINUNICODE module, name, STACK_GLOBAL.
        let pickle: [UInt8] = [0x80, 4, 0x8C, 8] + Array("builtins".utf8) + [0x8C, 4] + Array("eval".utf8) + [0x93]
            + P.str("__import__('os')") + P.tuple1 + P.reduce + P.stop
        try assertRefused(pickleFile(pickle), ["global 'builtins.eval' is not allowed"])
    }

    func testRefusesNonTorchModuleGlobal() throws {
        let pickle = P.proto2 + P.global("torch.nn.modules.linear", "Linear") + P.emptyTuple + P.reduce + P.stop
        try assertRefused(pickleFile(pickle), ["torch.nn.modules.linear.Linear", "not allowed"])
    }

    func testRefusesUnknownAndObjectOpcodes() throws {
        try assertRefused(pickleFile(P.proto2 + [0xFF] + P.stop), ["opcode 0xff", "not supported"])
        try assertRefused(pickleFile(P.proto2 + [0x69] + Array("os\nsystem\n".utf8) + P.stop), ["opcode INST", "not supported"])
    }

    func testRefusesTruncatedZip() throws {
        let sample = try Array(Data(contentsOf: URL(fileURLWithPath: Fixtures.path("checkpoint-sample.pt"))))
        try assertRefused(Array(sample.prefix(sample.count / 2)), ["end-of-central-directory"])
        try assertRefused(Array(sample.prefix(3)), ["zip signature"])
        // Cut just before the end record: the central directory no longer fits.
        try assertRefused(Array(sample.prefix(sample.count - 30)), ["zip:"])
    }

    func testRefusesEntryDeclaringHugeSize() throws {
        let members = [B.Member(name: "archive/data.pkl", data: P.proto2 + P.emptyDict + P.stop, declaredSize: 0xFFFF_FF00)]
        try assertRefused(B.zip(members), ["archive/data.pkl", "past the end"])
    }

    func testRefusesCompressedAndEncryptedEntries() throws {
        try assertRefused(B.zip([B.Member(name: "archive/data.pkl", data: [1, 2, 3], method: 8)]), ["compressed (method 8)"])
        try assertRefused(B.zip([B.Member(name: "archive/data.pkl", data: [1, 2, 3], flags: 1)]), ["encrypted"])
    }

    func testRefusesStorageOffsetPastEnd() throws {
        let pickle = P.proto2 + P.dict([("w", P.tensor(storage: "0", numel: 6, offset: 4, size: [2, 3], stride: [3, 1]))]) + P.stop
        try assertRefused(pickleFile(pickle, storages: ["0": B.f32([1, 2, 3, 4, 5, 6])]), ["storage '0'", "6 elements"])
    }

    func testRefusesZeroStrideBlowUp() throws {
        // 2^40 logical elements over a 1-element storage.
        let pickle = P.proto2 + P.dict([("w", P.tensor(storage: "0", numel: 1, size: [1 << 20, 1 << 20], stride: [0, 0]))]) + P.stop
        try assertRefused(pickleFile(pickle, storages: ["0": B.f32([1])]), ["1099511627776 elements", "storage '0' holds only 1"])
    }

    func testRefusesStorageSizeBeyondRecord() throws {
        let pickle = P.proto2 + P.dict([("w", P.tensor(storage: "0", numel: 1_000_000, size: [1000, 1000], stride: [1000, 1]))]) + P.stop
        try assertRefused(pickleFile(pickle, storages: ["0": B.f32([1, 2, 3])]), ["storage '0'", "1000000", "12 bytes"])
        let missing = P.proto2 + P.dict([("w", P.tensor(storage: "7", numel: 1, size: [1], stride: [1]))]) + P.stop
        try assertRefused(pickleFile(missing), ["storage '7'", "no record"])
    }

    func testRefusesDeepNesting() throws {
        // 5,000 lists, each appended into the one below: cheap to build, deep to convert.
        let nested = P.proto2 + Array(repeating: P.emptyList, count: 5000).flatMap { $0 } + Array(repeating: P.append, count: 4999).flatMap { $0 } + P.stop
        try assertRefused(pickleFile(nested), ["nested deeper than"])
        let marks = P.proto2 + [UInt8](repeating: 0x28, count: 20_000) + P.stop
        try assertRefused(pickleFile(marks), ["nested MARKs"])
    }

    func testRefusesExponentialSharing() throws {
        // t0 = (1,); t(n+1) = (tn, tn): 2^60 leaves through memo references.
        var pickle = P.proto2 + P.int(1) + P.tuple1 + P.put(0)
        for i in 0..<60 { pickle += P.get(i) + P.get(i) + [0x86] + P.put(i + 1) }
        pickle += P.stop
        try assertRefused(pickleFile(pickle), ["more than"])
    }

    func testRefusesTruncatedPickleAndBadMemo() throws {
        try assertRefused(pickleFile(P.proto2 + P.emptyDict), ["without STOP"])
        try assertRefused(pickleFile(P.proto2 + [0x58] + B.le32(1_000_000) + Array("abc".utf8)), ["truncated pickle"])
        try assertRefused(pickleFile(P.proto2 + P.get(9) + P.stop), ["memo entry 9"])
        try assertRefused(pickleFile(P.proto2 + P.tuple1 + P.stop), ["stack underflow"])
    }

    func testRefusesLegacyFormat() throws {
        // Pre-1.6 torch.save wrote a bare pickle stream (magic number first), not a zip.
        try assertRefused(P.proto2 + P.int(0x1950) + P.stop, ["legacy (pre-1.6, non-zip) torch checkpoint"])
    }

    func testRefusesMissingPickleAndBigEndian() throws {
        try assertRefused(B.zip([B.Member(name: "archive/version", data: Array("3".utf8))]), ["no data.pkl"])
        let bigEndian = B.zip([B.Member(name: "a/data.pkl", data: P.proto2 + P.emptyDict + P.stop), B.Member(name: "a/byteorder", data: Array("big".utf8))])
        try assertRefused(bigEndian, ["byteorder is 'big'"])
    }
}

/// Random corruption of the real sample: every outcome must be a successful load or a
/// CheckpointError — never a crash, a hang or another error type.
final class TorchCheckpointFuzzTests: XCTestCase {
    func testCorruptedSamplesFailCleanly() throws {
        let sample = try Array(Data(contentsOf: URL(fileURLWithPath: Fixtures.path("checkpoint-sample.pt"))))
        var random = SplitMix64(seed: 0xF55A_2025)
        var loaded = 0, refused = 0
        for iteration in 0..<400 {
            var bytes = sample
            let flips = 1 + Int(random.next() % 8)
            for _ in 0..<flips {
                // Half the time hit the pickle (first ~2 KB), otherwise anywhere, including the directory.
                let range = random.next() % 2 == 0 ? 0..<2100 : 0..<bytes.count
                let at = range.lowerBound + Int(random.next() % UInt64(range.count))
                bytes[at] = UInt8(truncatingIfNeeded: random.next())
            }
            if iteration % 10 == 0 { bytes = Array(bytes.prefix(Int(random.next() % UInt64(bytes.count)))) }
            let path = try TorchFileBuilder.write(bytes, name: "fuzz.pt")
            do {
                let checkpoint = try TorchCheckpoint(path: path)
                // Whatever loaded must materialise within bounds.
                if let model = checkpoint.root["model"], let entries = model.dictEntries {
                    for entry in entries { _ = try entry.value.tensor?.contiguousBytes() }
                }
                loaded += 1
            } catch is CheckpointError {
                refused += 1
            }
        }
        XCTAssertEqual(loaded + refused, 400)
        XCTAssertGreaterThan(refused, 100)
    }
}

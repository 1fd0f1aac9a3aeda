import XCTest
@testable import StageCache

final class BlobCodecTests: XCTestCase {
    let codec = BlobCodec()

    func roundTrip(_ t: CacheTensor, kind: BlobKind? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> CacheTensor {
        let blob = try codec.encode(t, kind: kind)
        let back = try codec.decode(blob.bytes, expected: blob.digest)
        XCTAssertEqual(back.shape, t.shape, file: file, line: line)
        XCTAssertEqual(blob.digest, BlobDigest.of(t, kind: kind), "digest is the content digest", file: file, line: line)
        return back
    }

    func testFloat32SpecialValuesAreBitExact() throws {
        let nanPayload = Float(bitPattern: 0x7fc1_2345)
        let signallingish = Float(bitPattern: 0xffa0_0001)
        let values: [Float] = [0, -0.0, .infinity, -.infinity, nanPayload, signallingish, .leastNonzeroMagnitude,
                               -.greatestFiniteMagnitude, 1, 3.14159, -2.5e-30]
        let t = CacheTensor(shape: [values.count], floats: values)
        let back = try roundTrip(t)
        XCTAssertEqual(back.floats!.map(\.bitPattern), values.map(\.bitPattern))
        XCTAssertTrue(back.isBitwiseEqual(to: t))
    }

    func testEmptyAndOddShapes() throws {
        for shape in [[0], [3, 0, 5], [], [1], [17], [65_537]] {
            let n = shape.reduce(1, *)
            let t = CacheTensor(shape: shape, floats: (0..<n).map { Float($0) * 0.25 })
            let back = try roundTrip(t)
            XCTAssertTrue(back.isBitwiseEqual(to: t), "shape \(shape)")
        }
        let emptyMask = try roundTrip(CacheTensor(shape: [0, 4], mask: []))
        XCTAssertEqual(emptyMask.count, 0)
    }

    func testLargeTensorRoundTripAndCompression() throws {
        let t = featureTensor(channels: 64, height: 256, width: 256, seed: 7)  // 4,194,304 floats
        XCTAssertEqual(t.count, 4_194_304)
        let blob = try codec.encode(t)
        XCTAssertLessThan(blob.storedByteCount, blob.rawByteCount, "smooth features compress")
        let back = try codec.decode(blob.bytes, expected: blob.digest)
        XCTAssertTrue(back.isBitwiseEqual(to: t))
        // Serial and parallel paths give the same blob and digest.
        let serial = BlobCodec(zstdLevel: -1, parallel: false)
        XCTAssertEqual(try serial.encode(t).bytes, blob.bytes)
        XCTAssertTrue(try serial.decode(blob.bytes, expected: blob.digest).isBitwiseEqual(to: t))
    }

    func testDigestDoesNotDependOnCompressionLevel() throws {
        let t = featureTensor(channels: 4, height: 128, width: 128, seed: 1)
        let fast = try BlobCodec(zstdLevel: -5).encode(t)
        let slow = try BlobCodec(zstdLevel: 9).encode(t)
        XCTAssertNotEqual(fast.bytes, slow.bytes)
        XCTAssertEqual(fast.digest, slow.digest)
        XCTAssertTrue(try codec.decode(slow.bytes, expected: fast.digest).isBitwiseEqual(to: t))
    }

    func testFloat16LossyBounds() throws {
        var rng = TestRNG(3)
        var values = (0..<10_000).map { _ in rng.gaussian() * 100 }
        values += [.infinity, -.infinity, .nan, 0, -0.0, 70_000, 1e-8, 0.1]
        let t = CacheTensor(shape: [values.count], floats: values)
        let back = try roundTrip(t, kind: .float16Lossy).floats!
        for (a, b) in zip(values, back) {
            if a.isNaN { XCTAssertTrue(b.isNaN); continue }
            if a.isInfinite || abs(a) > 65_504 { XCTAssertEqual(b, a > 0 ? .infinity : -.infinity); continue }
            if abs(a) >= 6.1e-5 {
                XCTAssertLessThanOrEqual(abs(a - b), abs(a) * 0x1p-11, "relative error ≤ 2^-11 for \(a)")
            } else {
                XCTAssertLessThanOrEqual(abs(a - b), 0x1p-25, "subnormal absolute error for \(a)")
            }
        }
        XCTAssertEqual(back[values.count - 4].bitPattern, (-0.0 as Float).bitPattern)
        // Round to nearest, ties to even: 1 + 2^-11 is halfway between 1 and 1 + 2^-10 → 1.
        let tie = try roundTrip(CacheTensor(shape: [2], floats: [1 + 0x1p-11, 1 + 3 * 0x1p-11]), kind: .float16Lossy).floats!
        XCTAssertEqual(tie, [1, 1 + 0x1p-9])
        // The pipeline can reproduce the lossy values on the compute path (hit = miss).
        XCTAssertTrue(CacheTensor(shape: [values.count], floats: back).isBitwiseEqual(to: t.roundedToFloat16()))
        XCTAssertThrowsError(try codec.encode(CacheTensor(shape: [1], mask: [true]), kind: .float16Lossy))
    }

    func testBitMaskRoundTripAndPacking() throws {
        var rng = TestRNG(9)
        for n in [1, 7, 8, 9, 1000, 262_145, 512 * 512] {
            let mask = (0..<n).map { _ in rng.next() % 3 == 0 }
            let t = CacheTensor(shape: [n], mask: mask)
            let blob = try codec.encode(t)
            XCTAssertLessThanOrEqual(blob.storedByteCount, 64 + 6 * ((n + 262_143) / 262_144) + (n + 7) / 8)
            XCTAssertEqual(try codec.decode(blob.bytes, expected: blob.digest).mask!, mask)
        }
    }

    func testRawBytesCompressOnlyWhenItHelps() throws {
        var rng = TestRNG(11)
        let noise = (0..<100_000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let noisy = try codec.encode(CacheTensor(bytes: noise))
        XCTAssertEqual(try BlobHeader(parsing: noisy.bytes.withUnsafeBytes { $0 }).chunks.map(\.compressed), [false])
        XCTAssertEqual(try codec.decode(noisy.bytes, expected: noisy.digest).bytes!, noise)
        let text = Array(String(repeating: "fssam stage cache ", count: 10_000).utf8)
        let packed = try codec.encode(CacheTensor(bytes: text))
        XCTAssertLessThan(packed.storedByteCount, text.count / 10)
        XCTAssertEqual(try codec.decode(packed.bytes, expected: packed.digest).bytes!, text)
    }

    func testCorruptOrTruncatedHeadersAreRejected() throws {
        let t = featureTensor(channels: 2, height: 300, width: 300, seed: 5)
        let blob = try codec.encode(t)
        func rejects(_ bytes: [UInt8], _ fragment: String, line: UInt = #line) {
            XCTAssertThrowsError(try codec.decode(bytes, expected: blob.digest, stage: "unit"), line: line) { error in
                XCTAssertTrue("\(error)".contains(fragment), "\(error)", line: line)
            }
        }
        var b = blob.bytes; b[0] = UInt8(ascii: "X"); rejects(b, "bad magic")
        b = blob.bytes; b[4] = 99; rejects(b, "codec version 99")
        b = blob.bytes; b[5] = 42; rejects(b, "unknown blob kind 42")
        b = blob.bytes; b[6] = 3; rejects(b, "does not match kind")
        b = blob.bytes; b[8] = 200; rejects(b, "rank 200")
        b = blob.bytes; b[12] ^= 0x10; rejects(b, "chunks declared")           // shape no longer matches chunk count
        b = blob.bytes; b[12 + 7] = 0x7f; rejects(b, "absurd")                  // 2^62-ish dimension
        rejects(Array(blob.bytes.prefix(3)), "truncated")
        rejects(Array(blob.bytes.prefix(20)), "truncated")
        rejects(Array(blob.bytes.dropLast(1)), "payload bytes")
        rejects(blob.bytes + [0], "payload bytes")
        rejects([], "truncated")
        // Flip a byte in the middle of a compressed payload: zstd error or digest mismatch, never data.
        b = blob.bytes; b[b.count / 2] ^= 0x40
        XCTAssertThrowsError(try codec.decode(b, expected: blob.digest, stage: "unit")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains(blob.digest.hex) && text.contains("unit"), text)
        }
        // Without an expected digest, a well-formed blob still decodes (used by `explain`).
        XCTAssertNoThrow(try codec.decode(blob.bytes, expected: nil))
    }

    func testRandomGarbageNeverCrashes() {
        var rng = TestRNG(12)
        let valid = try! codec.encode(CacheTensor(shape: [1000], floats: (0..<1000).map(Float.init))).bytes
        for trial in 0..<2000 {
            var b = valid
            let flips = 1 + Int(rng.next() % 4)
            for _ in 0..<flips { b[Int(rng.next() % UInt64(b.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            if trial % 3 == 0 { b = Array(b.prefix(Int(rng.next() % UInt64(b.count)))) }
            let expected = BlobDigest.of(CacheTensor(shape: [1000], floats: (0..<1000).map(Float.init)))
            if let t = try? codec.decode(b, expected: expected) {
                XCTAssertEqual(t.floats!, (0..<1000).map(Float.init), "a decoded blob is always the true content")
            }
        }
    }
}

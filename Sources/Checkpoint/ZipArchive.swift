import Foundation

/// One member of a zip archive, as the central directory describes it.
public struct ZipEntry: Sendable, Equatable {
    public let name: String
    /// Where the member's stored bytes lie in the archive file.
    public let dataRange: Range<Int>
}

/// The zip container `torch.save` writes (PyTorch's miniz-based `PyTorchStreamWriter`): every member
/// STORED (uncompressed), usually with a ZIP64 end-of-central-directory record even for small files.
///
/// Only the central directory is trusted for sizes (local headers may defer them to a data
/// descriptor); every offset and size is checked against the file before use, and compressed,
/// encrypted or multi-disk archives are refused with a reason rather than misread.
public struct ZipArchive: Sendable {
    public let path: String
    /// Members in central-directory order.
    public let entries: [ZipEntry]
    private let index: [String: Int]

    /// Central directories above this many members are refused; a torch checkpoint has one per storage
    /// (a few thousand at most), and the cap bounds the work a hostile directory can cause.
    public static let maximumEntries = 1_000_000

    public init(file: MappedFile) throws {
        path = file.path
        let size = file.count
        func fail(_ reason: String) -> CheckpointError { CheckpointError(file.path, "zip: " + reason) }
        func u16(_ at: Int) throws -> Int { try file.withBytes(at..<(at + 2)) { Int(UInt16(littleEndian: $0.loadUnaligned(as: UInt16.self))) } }
        func u32(_ at: Int) throws -> Int { try file.withBytes(at..<(at + 4)) { Int(UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self))) } }
        func u64(_ at: Int) throws -> Int {
            let v = try file.withBytes(at..<(at + 8)) { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
            guard v <= UInt64(Int.max / 2) else { throw fail("64-bit field at byte \(at) is implausibly large (\(v))") }
            return Int(v)
        }

        // End of central directory: 22 bytes plus a comment of up to 65535 bytes, so search backwards.
        guard size >= 22 else { throw fail("file is \(size) bytes, too short to be a zip archive (truncated?)") }
        var eocd = -1
        let searchStart = max(0, size - 22 - 65_535)
        try file.withBytes(searchStart..<size) { bytes in
            var i = bytes.count - 22
            while i >= 0 {
                if bytes[i] == 0x50, bytes[i + 1] == 0x4B, bytes[i + 2] == 0x05, bytes[i + 3] == 0x06 { eocd = searchStart + i; return }
                i -= 1
            }
        }
        guard eocd >= 0 else { throw fail("no end-of-central-directory record (not a zip file, or truncated)") }
        let disk = try u16(eocd + 4), cdDisk = try u16(eocd + 6)
        var count = try u16(eocd + 10)
        var cdSize = try u32(eocd + 12)
        var cdOffset = try u32(eocd + 16)

        // ZIP64: the locator sits just before the EOCD and points at the 64-bit record.
        if eocd >= 20, try u32(eocd - 20) == 0x0706_4B50 {
            let recordOffset = try u64(eocd - 20 + 8)
            guard recordOffset + 56 <= eocd else { throw fail("ZIP64 end-of-central-directory offset \(recordOffset) is out of range") }
            guard try u32(recordOffset) == 0x0606_4B50 else { throw fail("ZIP64 locator does not point at a ZIP64 end-of-central-directory record") }
            guard try u32(recordOffset + 16) == 0, try u32(recordOffset + 20) == 0 else { throw fail("multi-disk archives are not supported") }
            count = try u64(recordOffset + 32)
            cdSize = try u64(recordOffset + 40)
            cdOffset = try u64(recordOffset + 48)
        } else if count == 0xFFFF || cdSize == 0xFFFF_FFFF || cdOffset == 0xFFFF_FFFF {
            throw fail("the end record needs ZIP64 values but there is no ZIP64 locator")
        }
        guard disk == 0, cdDisk == 0 else { throw fail("multi-disk archives are not supported") }
        guard count <= Self.maximumEntries else { throw fail("central directory declares \(count) entries (limit \(Self.maximumEntries))") }
        guard cdOffset <= size, cdSize <= size - cdOffset, cdOffset + cdSize <= eocd else {
            throw fail("central directory (offset \(cdOffset), \(cdSize) bytes) lies outside the file (\(size) bytes); truncated?")
        }

        var entries: [ZipEntry] = []
        var index: [String: Int] = [:]
        var at = cdOffset
        let cdEnd = cdOffset + cdSize
        for n in 0..<count {
            guard at + 46 <= cdEnd else { throw fail("central directory entry \(n) runs past the directory's end") }
            guard try u32(at) == 0x0201_4B50 else { throw fail("bad central directory signature at byte \(at) (entry \(n))") }
            let flags = try u16(at + 8)
            let method = try u16(at + 10)
            var compressedSize = try u32(at + 20)
            var uncompressedSize = try u32(at + 24)
            let nameLength = try u16(at + 28), extraLength = try u16(at + 30), commentLength = try u16(at + 32)
            var localOffset = try u32(at + 42)
            let entryEnd = at + 46 + nameLength + extraLength + commentLength
            guard entryEnd <= cdEnd else { throw fail("central directory entry \(n) runs past the directory's end") }
            let nameBytes = try file.withBytes((at + 46)..<(at + 46 + nameLength)) { Array($0) }
            guard let name = String(bytes: nameBytes, encoding: .utf8) else { throw fail("entry \(n) has a name that is not UTF-8") }

            // ZIP64 extended information: the 8-byte values that were 0xFFFFFFFF, in this order.
            if uncompressedSize == 0xFFFF_FFFF || compressedSize == 0xFFFF_FFFF || localOffset == 0xFFFF_FFFF {
                var e = at + 46 + nameLength
                let extraEnd = e + extraLength
                var found = false
                while e + 4 <= extraEnd {
                    let tag = try u16(e), length = try u16(e + 2)
                    guard e + 4 + length <= extraEnd else { throw fail("entry '\(name)': extra field runs past its end") }
                    if tag == 0x0001 {
                        var p = e + 4
                        func next() throws -> Int {
                            guard p + 8 <= e + 4 + length else { throw fail("entry '\(name)': ZIP64 extra field too short") }
                            defer { p += 8 }
                            return try u64(p)
                        }
                        if uncompressedSize == 0xFFFF_FFFF { uncompressedSize = try next() }
                        if compressedSize == 0xFFFF_FFFF { compressedSize = try next() }
                        if localOffset == 0xFFFF_FFFF { localOffset = try next() }
                        found = true
                        break
                    }
                    e += 4 + length
                }
                guard found else { throw fail("entry '\(name)' needs a ZIP64 extra field but has none") }
            }
            guard flags & 0x1 == 0 else { throw fail("entry '\(name)' is encrypted") }
            guard method == 0 else {
                throw fail("entry '\(name)' is compressed (method \(method)); torch.save writes stored entries and only those are supported")
            }
            guard compressedSize == uncompressedSize else {
                throw fail("entry '\(name)' is stored but declares \(compressedSize) stored vs \(uncompressedSize) uncompressed bytes")
            }
            // The local header repeats the name and may carry its own extra field (torch pads it so
            // that data is 64-byte aligned); the data starts after both.
            guard localOffset <= size - 30 else { throw fail("entry '\(name)': local header offset \(localOffset) is past the end of the file") }
            guard try u32(localOffset) == 0x0403_4B50 else { throw fail("entry '\(name)': no local header at byte \(localOffset)") }
            let dataStart = localOffset + 30 + (try u16(localOffset + 26)) + (try u16(localOffset + 28))
            guard dataStart <= size, uncompressedSize <= size - dataStart, dataStart + uncompressedSize <= cdOffset else {
                throw fail("entry '\(name)' declares \(uncompressedSize) bytes at byte \(dataStart), past the end of the data (\(min(size, cdOffset)) bytes); truncated or corrupt")
            }
            guard index[name] == nil else { throw fail("entry '\(name)' appears twice") }
            index[name] = entries.count
            entries.append(ZipEntry(name: name, dataRange: dataStart..<(dataStart + uncompressedSize)))
            at = entryEnd
        }
        self.entries = entries
        self.index = index
    }

    public func entry(_ name: String) -> ZipEntry? { index[name].map { entries[$0] } }
}

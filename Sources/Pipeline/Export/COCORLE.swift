/// A binary mask in COCO's run-length encoding, bit-compatible with pycocotools (`maskApi.c`):
/// runs are counted in column-major (Fortran) order and alternate background / target, starting
/// with a (possibly empty) background run. Tools that read `predictions.json` (pycocotools,
/// detectron2, mmdet) decode exactly this, so the order and the string form must match byte for byte.
public struct COCORLE: Equatable, Sendable {
    public let height: Int
    public let width: Int
    /// Run lengths, column-major, first run is background.
    public let counts: [Int]

    /// Encodes a row-major mask (`height * width` values; nonzero = target), as `mask.encode`
    /// does for the same array in Fortran order.
    public init(mask: [UInt8], height: Int, width: Int) {
        precondition(height >= 0 && width >= 0 && mask.count == height * width,
                     "mask \(height)x\(width) needs \(height * width) values, got \(mask.count)")
        var counts: [Int] = []
        var previous = false
        var run = 0
        for column in 0..<width {
            var index = column
            for _ in 0..<height {
                let value = mask[index] != 0
                if value != previous {
                    counts.append(run)
                    run = 0
                    previous = value
                }
                run += 1
                index += width
            }
        }
        counts.append(run)
        self.height = height
        self.width = width
        self.counts = counts
    }

    /// Counts as given, after checking they describe exactly `height * width` pixels: a decoded
    /// string comes from outside and must not make us index past the mask.
    public init(height: Int, width: Int, counts: [Int]) throws {
        guard height >= 0, width >= 0 else { throw PipelineError("RLE", "negative size \(height)x\(width)") }
        guard counts.allSatisfy({ $0 >= 0 }) else { throw PipelineError("RLE", "negative run length in counts") }
        let (total, overflow) = counts.reduce((0, false)) { acc, c in
            let (s, o) = acc.0.addingReportingOverflow(c); return (s, acc.1 || o)
        }
        guard !overflow, total == height * width else {
            throw PipelineError("RLE", "run lengths cover \(overflow ? "more than Int.max" : String(total)) pixels, a \(height)x\(width) mask has \(height * width)")
        }
        self.height = height
        self.width = width
        self.counts = counts
    }

    /// Decodes pycocotools' compressed counts string (`rleFrString`).
    public init(countsString: String, height: Int, width: Int) throws {
        var counts: [Int] = []
        var x = 0
        var shift = 0
        for byte in countsString.utf8 {
            guard byte >= 48, byte < 48 + 64 else {
                throw PipelineError("RLE", "character \(UnicodeScalar(byte)) is outside the counts alphabet ('0'...'o')")
            }
            let c = Int(byte - 48)
            // 64-bit Int holds 12 full 5-bit groups plus 4 bits; more groups than that is not a
            // count anyone could have written, only garbage.
            guard shift <= 60 else { throw PipelineError("RLE", "a run length in the counts string is too long") }
            x |= (c & 0x1f) << shift
            shift += 5
            if c & 0x20 == 0 {
                if c & 0x10 != 0 && shift < 64 { x |= -1 << shift }
                // Same quirk as maskApi.c: the delta is against the run two back, only from the 4th run on.
                if counts.count > 2 { x += counts[counts.count - 2] }
                counts.append(x)
                x = 0
                shift = 0
            }
        }
        guard shift == 0 else { throw PipelineError("RLE", "counts string ends inside a run length") }
        try self.init(height: height, width: width, counts: counts)
    }

    /// pycocotools' compressed counts string (`rleToString`): each count (for i > 2, its delta
    /// against count i-2) as little-endian 5-bit groups with a continuation bit, offset by '0'.
    public var countsString: String {
        var out: [UInt8] = []
        out.reserveCapacity(counts.count * 2)
        for i in counts.indices {
            var x = counts[i]
            if i > 2 { x -= counts[i - 2] }
            var more = true
            while more {
                var c = x & 0x1f
                x >>= 5  // arithmetic shift, as on `long` in C
                more = (c & 0x10) != 0 ? x != -1 : x != 0
                if more { c |= 0x20 }
                out.append(UInt8(c + 48))
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The mask, row-major, 1 = target.
    public func mask() -> [UInt8] {
        var mask = [UInt8](repeating: 0, count: height * width)
        var position = 0  // column-major pixel index
        for (i, run) in counts.enumerated() {
            if i % 2 == 1 {
                for p in position..<(position + run) {
                    mask[(p % height) * width + p / height] = 1
                }
            }
            position += run
        }
        return mask
    }

    /// Number of target pixels (pycocotools `area`).
    public var area: Int {
        stride(from: 1, to: counts.count, by: 2).reduce(0) { $0 + counts[$1] }
    }

    /// `[x, y, width, height]` of the target pixels, as pycocotools `toBbox` computes it (all
    /// zeros for an empty mask). Follows `rleToBbox` step for step so that its corner cases agree.
    public var bbox: [Int] {
        let m = (counts.count / 2) * 2
        if m == 0 || height == 0 { return [0, 0, 0, 0] }
        var xs = width, ys = height, xe = 0, ye = 0
        var cc = 0, xp = 0
        for j in 0..<m {
            cc += counts[j]
            let t = cc - j % 2
            let y = t % height
            let x = (t - y) / height
            if j % 2 == 0 {
                xp = x
            } else if xp < x {
                // The run wraps into a later column, so it covers full columns' height.
                ys = 0
                ye = height - 1
            }
            xs = min(xs, x); xe = max(xe, x); ys = min(ys, y); ye = max(ye, y)
        }
        return [xs, ys, xe - xs + 1, ye - ys + 1]
    }
}

import Checkpoint

/// Byte-level mutations in the manner of libFuzzer's: bit flips, interesting values, byte runs
/// inserted, erased, duplicated or truncated, and ASCII digits pushed to extremes (sizes and
/// counts in text formats). Deterministic for a seed, so a finding replays.
struct Mutator {
    private var random: SplitMix64

    init(seed: UInt64) { random = SplitMix64(seed: seed) }

    mutating func next() -> UInt64 { random.next() }

    mutating func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(next() % UInt64(n)) }

    private static let interesting: [[UInt8]] = [
        [0x00], [0xFF], [0x7F], [0x80], [0xFF, 0xFF, 0xFF, 0xFF], [0x00, 0x00, 0x00, 0x80],
        [0xFF, 0xFF, 0xFF, 0x7F], [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
        Array("99999999999999999999".utf8), Array("-1".utf8), Array("1e999".utf8), Array("[[[[[[[[".utf8),
        Array("{{{{{{{{".utf8), Array("\"".utf8), Array("\n".utf8), Array("../".utf8),
    ]

    /// One to four stacked mutations of `input`.
    mutating func mutate(_ input: [UInt8]) -> [UInt8] {
        var bytes = input
        for _ in 0...below(4) {
            switch below(8) {
            case 0 where !bytes.isEmpty:  // flip a bit
                let i = below(bytes.count); bytes[i] ^= UInt8(1) << UInt8(below(8))
            case 1 where !bytes.isEmpty:  // random byte
                bytes[below(bytes.count)] = UInt8(truncatingIfNeeded: next())
            case 2:  // overwrite with an interesting value
                let value = Self.interesting[below(Self.interesting.count)]
                let at = below(bytes.count + 1)
                for (k, b) in value.enumerated() where at + k < bytes.count { bytes[at + k] = b }
                if at + value.count > bytes.count { bytes += value.suffix(at + value.count - bytes.count) }
            case 3:  // insert an interesting value
                bytes.insert(contentsOf: Self.interesting[below(Self.interesting.count)], at: below(bytes.count + 1))
            case 4 where bytes.count > 1:  // erase a run
                let from = below(bytes.count); let n = 1 + below(min(64, bytes.count - from))
                bytes.removeSubrange(from..<(from + n))
            case 5 where !bytes.isEmpty:  // duplicate a run
                let from = below(bytes.count); let n = 1 + below(min(256, bytes.count - from))
                bytes.insert(contentsOf: bytes[from..<(from + n)], at: below(bytes.count + 1))
            case 6 where !bytes.isEmpty:  // truncate
                bytes.removeLast(below(bytes.count))
            case 7:  // a digit run pushed to an extreme
                if let i = bytes.indices.dropFirst(below(bytes.count)).first(where: { bytes[$0] >= 48 && bytes[$0] <= 57 }) {
                    bytes.insert(contentsOf: Array("99999999999".utf8), at: i)
                }
            default: break
            }
        }
        return bytes
    }
}

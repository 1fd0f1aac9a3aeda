/// The splitmix64 generator (Steele, Lea, Flood 2014) in counter form: output `i` depends only on the
/// seed and `i`, so a tensor's values can be generated in any order or in parallel chunks.
public struct SplitMix64: Sendable {
    public static let gamma: UInt64 = 0x9E37_79B9_7F4A_7C15
    public let seed: UInt64
    private var index: UInt64 = 0

    public init(seed: UInt64) {
        self.seed = seed
    }

    /// Output number `i` (0-based): mix(seed + (i+1)·gamma), all arithmetic mod 2^64.
    @inline(__always)
    public static func output(seed: UInt64, index i: UInt64) -> UInt64 {
        let s = seed &+ (i &+ 1) &* gamma
        var z = (s ^ (s >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public func output(_ i: UInt64) -> UInt64 { Self.output(seed: seed, index: i) }

    /// The next output of the stream.
    public mutating func next() -> UInt64 {
        defer { index &+= 1 }
        return Self.output(seed: seed, index: index)
    }
}

/// 64-bit FNV-1a over bytes; the synthetic weights derive each tensor's seed from its key with it.
public enum FNV1a64 {
    public static let offsetBasis: UInt64 = 0xCBF2_9CE4_8422_2325
    public static let prime: UInt64 = 0x0000_0100_0000_01B3

    public static func hash<S: Sequence>(_ bytes: S) -> UInt64 where S.Element == UInt8 {
        var h = offsetBasis
        for b in bytes { h = (h ^ UInt64(b)) &* prime }
        return h
    }

    public static func hash(_ string: String) -> UInt64 { hash(string.utf8) }
}

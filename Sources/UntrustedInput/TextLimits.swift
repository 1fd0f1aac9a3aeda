/// The limits every YAML or JSON file fssam reads is held to (pipeline files, support sets, run
/// manifests, safetensors headers, …): one set of numbers, so no reader is laxer than another.
public enum TextLimits {
    /// 1 MiB: a real pipeline or support-set file is a few kB; anything near this is a mistake or an attack.
    public static let maxFileBytes = 1 << 20
    /// Collections nested deeper than this are refused before any parser sees them: Yams composes,
    /// and our readers walk, recursively, and a deep enough file would overflow the stack.
    /// Real files nest 2–5 levels.
    public static let maxNesting = 64
    /// Nodes after alias expansion (`&a [*b, *b, …]` bombs share nodes in memory but make every
    /// walk exponential).
    public static let maxNodes = 20_000
}

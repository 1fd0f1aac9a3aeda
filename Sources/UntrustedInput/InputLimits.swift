/// The limits every input file fssam reads is held to, in one place, so no reader is laxer than
/// another. The text limits apply to every YAML or JSON file (pipeline files, support sets, run
/// manifests, safetensors headers).
public enum InputLimits {
    /// 1 MiB: a real pipeline or support-set file is a few kB; anything near this is a mistake or an attack.
    public static let maxTextFileBytes = 1 << 20
    /// Collections nested deeper than this are refused before any parser sees them: Yams composes,
    /// and our readers walk, recursively, and a deep enough file would overflow the stack.
    /// Real files nest 2–5 levels.
    public static let maxNesting = 64
    /// Nodes after alias expansion (`&a [*b, *b, …]` bombs share nodes in memory but make every
    /// walk exponential).
    public static let maxNodes = 20_000
    /// An encoded image file (support or query) is read whole before decoding; 1 GiB is far above
    /// any photograph at the pixel limit, and keeps a wrong path (a disk image) from filling memory.
    public static let maxImageFileBytes = 1 << 30
}

/// How deeply a JSON text nests, measured on the raw bytes before Foundation parses it (its
/// parsers recurse per level). JSON's grammar makes this exact: brackets count only outside
/// strings, and a string ends at the first quote not escaped by a backslash.
public enum JSONNesting {
    /// Where the text first nests deeper than `limit`, or nil when it never does.
    /// `line` is 1-based. Malformed JSON is left for the parser to report.
    public static func firstTooDeep<Bytes: Collection>(in bytes: Bytes, limit: Int = InputLimits.maxNesting)
        -> (line: Int, depth: Int)? where Bytes.Element == UInt8 {
        var depth = 0
        var line = 1
        var inString = false
        var escaped = false
        for byte in bytes {
            if byte == 0x0A { line += 1 }
            if inString {
                if escaped {
                    escaped = false
                } else if byte == 0x5C {  // backslash
                    escaped = true
                } else if byte == 0x22 {
                    inString = false
                }
                continue
            }
            switch byte {
            case 0x22: inString = true
            case 0x5B, 0x7B:  // [ {
                depth += 1
                if depth > limit { return (line, depth) }
            case 0x5D, 0x7D:  // ] }
                depth = max(0, depth - 1)  // a stray closer is a syntax error for the parser, not a credit
            default: break
            }
        }
        return nil
    }

    /// The reason to refuse `bytes`, or nil: "line N: nesting deeper than 64 levels: refused".
    public static func problem<Bytes: Collection>(in bytes: Bytes, limit: Int = InputLimits.maxNesting) -> String?
        where Bytes.Element == UInt8 {
        firstTooDeep(in: bytes, limit: limit).map { "line \($0.line): JSON nested deeper than \(limit) levels: refused" }
    }
}

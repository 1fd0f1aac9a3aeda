/// The few JSON spellings our result files need, written by hand so that the bytes are fixed:
/// keys in the order the caller gives, no whitespace, numbers in one spelling. Foundation's
/// JSONSerialization/JSONEncoder do not promise key order or number spelling across versions.
public enum CanonicalJSON {
    /// A JSON string literal; non-ASCII stays as UTF-8, control characters become `\u00XX`.
    public static func string(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// Shortest spelling that reads back to the same Double (Swift's `description`), which is
    /// valid JSON for every finite value. NaN and infinity have no JSON spelling, so they are refused.
    public static func number(_ value: Double, field: String) throws -> String {
        guard value.isFinite else { throw PipelineError(field, "\(value) cannot be written as a JSON number") }
        return value == 0 ? "0.0" : value.description  // -0.0 and 0.0 spell the same
    }

    /// `{"k":v,...}` from already-spelled values, in the given order.
    public static func object(_ fields: [(String, String)]) -> String {
        "{" + fields.map { string($0.0) + ":" + $0.1 }.joined(separator: ",") + "}"
    }

    public static func array(_ values: [String]) -> String { "[" + values.joined(separator: ",") + "]" }
}

/// The one order for items everywhere in the output: by the UTF-8 bytes of the item id. Swift's
/// `String <` compares by Unicode canonical equivalence, which can order two differently spelled
/// but "equal" names arbitrarily; bytes give one answer on every machine.
public enum ItemOrder {
    public static func precedes(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }
}

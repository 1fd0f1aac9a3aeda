import Foundation

/// The keys of a JSON object's top level, as written: Foundation's parsers keep one of two equal
/// keys silently, and in an input line that hides which value was meant. Runs on text that has
/// already parsed as a JSON object, so it only tracks strings and nesting.
enum JSONTopLevelKeys {
    /// The first key that appears a second time, decoded (`"\u0069d"` is `id`), or nil.
    static func firstDuplicate(_ bytes: [UInt8]) -> String? {
        var seen = Set<String>()
        var depth = 0
        var i = 0
        while i < bytes.count {
            switch bytes[i] {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                i += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                i += 1
            case UInt8(ascii: "\""):
                let start = i
                i += 1
                while i < bytes.count && bytes[i] != UInt8(ascii: "\"") { i += bytes[i] == UInt8(ascii: "\\") ? 2 : 1 }
                i += 1
                guard depth == 1, i <= bytes.count else { continue }
                var next = i
                while next < bytes.count, [9, 10, 13, 32].contains(bytes[next]) { next += 1 }
                // A string at the top level followed by ':' is a key (otherwise a value).
                guard next < bytes.count, bytes[next] == UInt8(ascii: ":") else { continue }
                let literal = Data(bytes[start..<i])
                let key = (try? JSONSerialization.jsonObject(with: literal, options: .fragmentsAllowed)) as? String
                    ?? String(decoding: bytes[(start + 1)..<(i - 1)], as: UTF8.self)
                if !seen.insert(key).inserted { return key }
            default:
                i += 1
            }
        }
        return nil
    }
}

/// A strict reader for the one Python literal the authors' list files hold:
/// `{class_id: [(image_path, label_path), ...], ...}` (`sub_class_file_list_<fold>.txt`, read by
/// the authors with `eval`). It accepts exactly that shape — integer keys, lists (or tuples) of
/// 2-tuples of string literals, optional trailing commas, whitespace — and nothing else, so a list
/// file is data, never code.
public enum PythonDictLiteral {
    public typealias Pools = [(key: Int, pairs: [(String, String)])]

    /// Entries in file order. `file` names the source in errors, which also give the line and column.
    public static func parseClassPools(_ text: String, file: String) throws -> Pools {
        var parser = Parser(bytes: Array(text.utf8), file: file)
        return try parser.document()
    }

    struct Parser {
        let bytes: [UInt8]
        let file: String
        var position = 0

        init(bytes: [UInt8], file: String) {
            self.bytes = bytes
            self.file = file
        }

        func fail(_ why: String) -> PipelineError {
            var line = 1, column = 1
            for b in bytes[..<min(position, bytes.count)] {
                if b == UInt8(ascii: "\n") { line += 1; column = 1 } else { column += 1 }
            }
            return PipelineError("\(file):\(line):\(column)", why)
        }

        var peek: UInt8? { position < bytes.count ? bytes[position] : nil }

        mutating func skipSpace() {
            while let b = peek, b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D { position += 1 }
        }

        mutating func expect(_ c: Character) throws {
            skipSpace()
            guard peek == c.asciiValue else { throw fail("expected '\(c)', found \(describe(peek))") }
            position += 1
        }

        /// Consumes `c` if it comes next (after whitespace).
        mutating func take(_ c: Character) -> Bool {
            skipSpace()
            if peek == c.asciiValue { position += 1; return true }
            return false
        }

        func describe(_ b: UInt8?) -> String {
            guard let b else { return "end of file" }
            return (0x21...0x7E).contains(b) ? "'\(Character(Unicode.Scalar(b)))'" : "byte 0x\(String(b, radix: 16))"
        }

        mutating func document() throws -> Pools {
            try expect("{")
            var pools: Pools = []
            var seen = Set<Int>()
            while !take("}") {
                let keyStart = position
                let key = try integer()
                guard seen.insert(key).inserted else {
                    position = keyStart
                    throw fail("class \(key) appears twice")
                }
                try expect(":")
                pools.append((key, try pairList()))
                if !take(",") { try expect("}"); break }
            }
            skipSpace()
            guard position == bytes.count else { throw fail("unexpected \(describe(peek)) after the closing '}'") }
            return pools
        }

        mutating func integer() throws -> Int {
            skipSpace()
            let start = position
            while let b = peek, (0x30...0x39).contains(b) { position += 1 }
            guard position > start, position - start <= 9 else {
                throw fail(position == start ? "expected a class id (integer), found \(describe(peek))" : "class id too long")
            }
            return Int(String(decoding: bytes[start..<position], as: UTF8.self))!
        }

        mutating func pairList() throws -> [(String, String)] {
            skipSpace()
            let close: Character
            if take("[") { close = "]" } else if take("(") { close = ")" } else {
                throw fail("expected a list '[' of (image, label) pairs, found \(describe(peek))")
            }
            var pairs: [(String, String)] = []
            while !take(close) {
                try expect("(")
                let image = try string()
                try expect(",")
                let label = try string()
                _ = take(",")
                try expect(")")
                pairs.append((image, label))
                if !take(",") { try expect(close); break }
            }
            return pairs
        }

        /// A single- or double-quoted string; escapes limited to \\ \' \" (paths need no more).
        mutating func string() throws -> String {
            skipSpace()
            guard let quote = peek, quote == UInt8(ascii: "'") || quote == UInt8(ascii: "\"") else {
                throw fail("expected a quoted path, found \(describe(peek))")
            }
            position += 1
            var out: [UInt8] = []
            while true {
                guard let b = peek else { throw fail("unterminated string") }
                if b == quote { position += 1; break }
                if b == 0x0A { throw fail("line break inside a string") }
                if b == UInt8(ascii: "\\") {
                    position += 1
                    guard let e = peek, e == UInt8(ascii: "\\") || e == UInt8(ascii: "'") || e == UInt8(ascii: "\"") else {
                        throw fail("unsupported escape \\\(describe(peek)) in a path")
                    }
                    out.append(e)
                } else {
                    out.append(b)
                }
                position += 1
            }
            guard let text = String(validating: out, as: UTF8.self) else { throw fail("path is not valid UTF-8") }
            return text
        }
    }
}

/// RFC 4180 fields of one CSV record: fields may be quoted, a quote inside a quoted field is
/// doubled, and a quoted field may contain commas and line breaks.
enum CSVRecord {
    /// True while the text so far ends inside a quoted field, i.e. the record goes on to the next
    /// line. Only a quote at the start of a field opens one; a stray quote inside an unquoted field
    /// is an error for `fields`, and must not swallow the lines after it.
    static func isOpen(_ bytes: [UInt8]) -> Bool {
        var quoted = false
        var atFieldStart = true
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if quoted {
                if b == 34 {
                    if i + 1 < bytes.count && bytes[i + 1] == 34 { i += 2; continue }
                    quoted = false
                }
            } else if b == 34 && atFieldStart {
                quoted = true
            }
            atFieldStart = !quoted && (b == 44 || b == 10)
            i += 1
        }
        return quoted
    }

    static func fields(_ bytes: [UInt8]) throws(CSVError) -> [String] {
        var fields: [String] = []
        var i = 0
        while true {
            var field: [UInt8] = []
            if i < bytes.count && bytes[i] == 34 {
                i += 1
                while true {
                    guard i < bytes.count else { throw CSVError("unterminated quoted field") }
                    if bytes[i] == 34 {
                        if i + 1 < bytes.count && bytes[i + 1] == 34 { field.append(34); i += 2; continue }
                        i += 1
                        break
                    }
                    field.append(bytes[i]); i += 1
                }
                if i < bytes.count && bytes[i] != 44 {
                    throw CSVError("unexpected character after a closing quote in field \(fields.count + 1)")
                }
            } else {
                while i < bytes.count && bytes[i] != 44 {
                    if bytes[i] == 34 { throw CSVError("quote inside an unquoted field \(fields.count + 1); quote the whole field") }
                    field.append(bytes[i]); i += 1
                }
            }
            guard let text = String(validating: field, as: UTF8.self) else {
                throw CSVError("field \(fields.count + 1) is not valid UTF-8")
            }
            fields.append(text)
            if i >= bytes.count { return fields }
            i += 1  // the comma
        }
    }
}

struct CSVError: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

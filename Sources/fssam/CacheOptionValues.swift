import Foundation

// The numeric values of `fssam cache` options, range-checked: a size or age that is negative, not
// a number, or beyond what a cache can mean is an error naming the option, never a conversion trap.

/// Largest `--budget`: 1 EiB (a larger one means "keep everything", which omitting --budget says).
let maximumSizeBytes = 1 << 60
/// Largest `--older-than`: 100 years.
let maximumAgeSeconds: Double = 36_500 * 86_400

/// Parses "500M", "10G", "1.5T", "123456" (bytes; K/M/G/T are powers of 1024, "iB"/"B" optional).
func parseSize(_ text: String, option: String) throws -> Int {
    let t = text.trimmingCharacters(in: .whitespaces).uppercased()
        .replacingOccurrences(of: "IB", with: "").replacingOccurrences(of: "B", with: "")
    let scale: [Character: Double] = ["K": 0x1p10, "M": 0x1p20, "G": 0x1p30, "T": 0x1p40]
    let examples = "examples: 500M, 10G, 123456"
    let bytes: Double
    if let last = t.last, let m = scale[last], let v = Double(t.dropLast()) { bytes = v * m }
    else if let v = Int(t) { bytes = Double(v) }
    else if let v = Double(t), v.isFinite, v.rounded() == v { bytes = v }
    else { throw CLIError("\(option) \"\(text)\": cannot read it as a size (\(examples))") }
    guard bytes.isFinite, bytes >= 0 else { throw CLIError("\(option) \"\(text)\": a size must be a number ≥ 0 (\(examples))") }
    guard bytes <= Double(maximumSizeBytes) else {
        throw CLIError("\(option) \"\(text)\" is larger than the largest size accepted, 1048576T (1 EiB)")
    }
    return Int(bytes)
}

/// Parses "30d", "12h", "15m", "90s" into seconds.
func parseAge(_ text: String, option: String) throws -> Double {
    let scale: [Character: Double] = ["d": 86_400, "h": 3_600, "m": 60, "s": 1]
    let examples = "examples: 30d, 12h, 15m, 90s"
    guard let last = text.last, let m = scale[last], let v = Double(text.dropLast()) else {
        throw CLIError("\(option) \"\(text)\": cannot read it as an age (\(examples))")
    }
    let seconds = v * m
    guard seconds.isFinite, seconds >= 0 else { throw CLIError("\(option) \"\(text)\": an age must be a number ≥ 0 (\(examples))") }
    guard seconds <= maximumAgeSeconds else { throw CLIError("\(option) \"\(text)\" is longer than the longest age accepted, 36500d (100 years)") }
    return seconds
}

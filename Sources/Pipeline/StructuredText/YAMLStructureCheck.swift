// libyaml's event parser, the one Yams composes from. It is iterative (explicit stacks, no
// recursion), so it can measure a document that Yams' recursive composer, and our recursive walks
// of the resulting tree, could not survive. It is Yams' own copy: no second libyaml is linked.
import CYaml
import UntrustedInput

/// Measures a YAML (or JSON) text from its parse events, before it is composed into a tree:
/// nesting depth and node count with aliases expanded (an alias to a deep anchor nests as deep as
/// the anchor; `&a [*b, *b, …]` bombs count every use), and keys repeated in one mapping (YAML
/// says they are an error; Yams would silently keep both).
///
/// A text the parser cannot read is not reported here: Yams parses it again and reports the syntax
/// error with its own message, and stops at the same event as this check did.
struct YAMLStructureCheck {
    struct Problem: Error, Equatable {
        enum Kind: Equatable { case tooDeep, tooManyNodes, duplicateKey }
        let kind: Kind
        /// 1-based, as Yams' marks are.
        let line: Int
        let column: Int
        let reason: String
    }

    var maxNesting = InputLimits.maxNesting
    var maxNodes = InputLimits.maxNodes

    /// The first problem in `text`, in reading order, or nil.
    func firstProblem(in text: String) -> Problem? {
        var bytes = Array(text.utf8)
        guard !bytes.isEmpty else { return nil }
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return nil }
        defer { yaml_parser_delete(&parser) }
        return bytes.withUnsafeMutableBufferPointer { buffer -> Problem? in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
            var measure = Measure(maxNesting: maxNesting, maxNodes: maxNodes)
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else { return nil }
                defer { yaml_event_delete(&event) }
                if let problem = measure.consume(event) { return problem }
                if event.type == YAML_STREAM_END_EVENT { return nil }
            }
        }
    }
}

/// The running measurement over one stream of events.
private struct Measure {
    /// A collection being read: the tallest child so far, its expanded size, and for a mapping
    /// the scalar keys seen (to find repeats) and whether the next child is a key.
    struct Frame {
        let isMapping: Bool
        let anchor: String?
        var childHeight = 0
        var size = 1
        var keyLines: [String: Int] = [:]
        var nextIsKey = true
    }

    let maxNesting: Int
    let maxNodes: Int
    var stack: [Frame] = []
    /// Height (0 for a scalar, 1 + the tallest child for a collection) and expanded size per anchor.
    var anchors: [String: (height: Int, size: Int)] = [:]

    mutating func consume(_ event: yaml_event_t) -> YAMLStructureCheck.Problem? {
        let line = Int(event.start_mark.line) + 1, column = Int(event.start_mark.column) + 1
        switch event.type {
        case YAML_DOCUMENT_START_EVENT:
            anchors = [:]  // anchors belong to their document
            return nil
        case YAML_SCALAR_EVENT:
            let scalar = event.data.scalar
            let text = String(decoding: UnsafeBufferPointer(start: scalar.value, count: Int(scalar.length)), as: UTF8.self)
            return add(height: 0, size: 1, anchor: Self.string(scalar.anchor), key: text, line: line, column: column)
        case YAML_ALIAS_EVENT:
            // An unknown alias is Yams' error to report; it stops composing there.
            guard let name = Self.string(event.data.alias.anchor), let target = anchors[name] else { return nil }
            return add(height: target.height, size: target.size, anchor: nil, key: nil, line: line, column: column)
        case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
            let isMapping = event.type == YAML_MAPPING_START_EVENT
            let anchor = Self.string(isMapping ? event.data.mapping_start.anchor : event.data.sequence_start.anchor)
            stack.append(Frame(isMapping: isMapping, anchor: anchor))
            if stack.count > maxNesting { return tooDeep(line, column) }
            return nil
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            guard let frame = stack.popLast() else { return nil }
            return add(height: frame.childHeight + 1, size: frame.size, anchor: frame.anchor, key: nil, line: line, column: column)
        default:
            return nil
        }
    }

    /// A finished node (scalar, alias or collection) placed into the collection being read.
    private mutating func add(height: Int, size: Int, anchor: String?, key: String?, line: Int, column: Int)
        -> YAMLStructureCheck.Problem? {
        if let anchor { anchors[anchor] = (height, size) }
        if stack.count + height > maxNesting { return tooDeep(line, column) }
        guard var parent = stack.popLast() else {
            return size > maxNodes ? tooMany(line, column) : nil
        }
        defer { stack.append(parent) }
        parent.childHeight = max(parent.childHeight, height)
        // Saturating: alias bombs grow sizes geometrically.
        parent.size = min(parent.size + size, maxNodes + 1)
        if parent.size > maxNodes { return tooMany(line, column) }
        if parent.isMapping {
            defer { parent.nextIsKey.toggle() }
            if parent.nextIsKey, let key {
                if let first = parent.keyLines[key] {
                    return YAMLStructureCheck.Problem(kind: .duplicateKey, line: line, column: column,
                                                      reason: "duplicate key '\(key)' (first at line \(first)): each key may appear once in a mapping")
                }
                parent.keyLines[key] = line
            }
        }
        return nil
    }

    private func tooDeep(_ line: Int, _ column: Int) -> YAMLStructureCheck.Problem {
        YAMLStructureCheck.Problem(kind: .tooDeep, line: line, column: column,
                                   reason: "nesting deeper than \(maxNesting) levels (collections, counting through aliases): refused")
    }

    private func tooMany(_ line: Int, _ column: Int) -> YAMLStructureCheck.Problem {
        YAMLStructureCheck.Problem(kind: .tooManyNodes, line: line, column: column,
                                   reason: "more than \(maxNodes) YAML nodes (after alias expansion): refused")
    }

    private static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: UnsafePointer($0)) }
    }
}

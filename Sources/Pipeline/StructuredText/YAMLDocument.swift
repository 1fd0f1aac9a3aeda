import Foundation
import UntrustedInput
import Yams

/// Why a YAML/JSON file could not be read into a tree, with where (1-based line and column when
/// known). Readers of particular files (pipeline files, support sets) add what they expected.
public struct YAMLDocumentError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case unreadable, tooLarge, syntax, structure }

    public let kind: Kind
    public let path: String
    public let line: Int?
    public let column: Int?
    public let reason: String

    public var description: String {
        "\(path)\(line.map { ":\($0)" } ?? "")\(line != nil ? column.map { ":\($0)" } ?? "" : ""): \(reason)"
    }
}

/// The one way fssam reads a YAML or JSON file into a `Yams.Node`: the file must be a regular file
/// (a FIFO would hang the read), hold at most `InputLimits.maxTextFileBytes` of UTF-8, and pass
/// `YAMLStructureCheck` (nesting, expanded node count, repeated keys) before Yams composes it.
/// Within those limits every recursive walk of the tree is safe.
public enum YAMLDocument {
    /// Reads and composes `path`; `what` names the kind of file in errors ("support-set file").
    public static func load(path: String, what: String) throws -> Node {
        let bytes: [UInt8]
        do {
            bytes = try RegularFile.readAll(path, limit: InputLimits.maxTextFileBytes, what: what)
        } catch let error as FileAccessError {
            let kind: YAMLDocumentError.Kind = error.kind == .tooLarge ? .tooLarge : .unreadable
            throw YAMLDocumentError(kind: kind, path: path, line: nil, column: nil, reason: error.reason)
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw YAMLDocumentError(kind: .unreadable, path: path, line: nil, column: nil, reason: "\(what) is not UTF-8 text")
        }
        return try parse(text, path: path, what: what)
    }

    /// Composes YAML `text`; `path` is used in error locations only.
    public static func parse(_ text: String, path: String, what: String) throws -> Node {
        guard text.utf8.count <= InputLimits.maxTextFileBytes else {
            throw YAMLDocumentError(kind: .tooLarge, path: path, line: nil, column: nil,
                                    reason: "the \(what) is larger than \(InputLimits.maxTextFileBytes) bytes, the most accepted (a real one is far smaller)")
        }
        if let problem = YAMLStructureCheck().firstProblem(in: text) {
            throw YAMLDocumentError(kind: problem.kind == .tooManyNodes ? .tooLarge : .structure, path: path,
                                    line: problem.line, column: problem.column, reason: problem.reason)
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw syntaxError(error, path: path)
        } catch {
            throw YAMLDocumentError(kind: .syntax, path: path, line: nil, column: nil, reason: "YAML: \(error)")
        }
        guard let root else {
            throw YAMLDocumentError(kind: .structure, path: path, line: nil, column: nil, reason: "empty \(what)")
        }
        return root
    }

    private static func syntaxError(_ error: YamlError, path: String) -> YAMLDocumentError {
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
             let .composer(context, problem, mark, _):
            let what = context.map { "\($0.text) — \(problem)" } ?? problem
            return YAMLDocumentError(kind: .syntax, path: path, line: mark.line, column: mark.column, reason: "YAML syntax error: \(what)")
        default:
            return YAMLDocumentError(kind: .syntax, path: path, line: nil, column: nil, reason: "YAML syntax error: \(error)")
        }
    }
}

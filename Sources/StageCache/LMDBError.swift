import CLMDB

/// A failed LMDB call: the return code, which operation failed, and LMDB's own message, so a log
/// line says what went wrong without a lookup table.
public struct LMDBError: Error, Sendable, Equatable, CustomStringConvertible {
    public let code: Int32
    public let operation: String
    public let message: String

    public init(code: Int32, operation: String) {
        self.code = code
        self.operation = operation
        self.message = String(cString: mdb_strerror(code))
    }

    public var isMapFull: Bool { code == MDB_MAP_FULL }
    public var isMapResized: Bool { code == MDB_MAP_RESIZED }
    public var isNotFound: Bool { code == MDB_NOTFOUND }

    public var description: String { "LMDB \(operation) failed (\(code)): \(message)" }

    /// Throws unless `code` is MDB_SUCCESS.
    @inline(__always)
    static func check(_ code: Int32, _ operation: @autoclosure () -> String) throws {
        if code != MDB_SUCCESS { throw LMDBError(code: code, operation: operation()) }
    }
}

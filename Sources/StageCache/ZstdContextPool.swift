import CZstd
import Foundation

/// Reuses zstd contexts: creating one per call costs allocations comparable to decompressing a
/// small chunk. Contexts are checked out by one thread at a time.
final class ZstdContextPool: @unchecked Sendable {
    static let shared = ZstdContextPool()
    private let lock = NSLock()
    private var compressors: [OpaquePointer] = []
    private var decompressors: [OpaquePointer] = []

    func withCompressor<R>(_ body: (OpaquePointer) throws -> R) rethrows -> R {
        let ctx: OpaquePointer = lock.withLock { compressors.popLast() } ?? ZSTD_createCCtx()!
        defer { lock.withLock { compressors.append(ctx) } }
        return try body(ctx)
    }

    func withDecompressor<R>(_ body: (OpaquePointer) throws -> R) rethrows -> R {
        let ctx: OpaquePointer = lock.withLock { decompressors.popLast() } ?? ZSTD_createDCtx()!
        defer { lock.withLock { decompressors.append(ctx) } }
        return try body(ctx)
    }
}

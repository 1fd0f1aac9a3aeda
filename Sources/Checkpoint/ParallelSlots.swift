import Foundation

/// A fixed array of result slots that concurrent workers fill, each worker writing a distinct index.
/// `DispatchQueue.concurrentPerform` gives no way to return values, and an `Array` cannot be
/// written from several threads, so the slots live in raw memory.
final class ParallelSlots<Element>: @unchecked Sendable {
    // Safety: each index is initialised by exactly one worker, and `take()` runs only after
    // `concurrentPerform` has returned (which orders all the workers' writes before it).
    private let buffer: UnsafeMutableBufferPointer<Element>
    private var initialized: [Bool]
    private let lock = NSLock()

    init(count: Int) {
        buffer = .allocate(capacity: count)
        initialized = [Bool](repeating: false, count: count)
    }

    func initialize(_ index: Int, to value: Element) {
        precondition(index >= 0 && index < buffer.count, "slot \(index) out of range")
        (buffer.baseAddress! + index).initialize(to: value)
        lock.withLock { initialized[index] = true }
    }

    /// All values, in index order; every slot must have been filled.
    func take() -> [Element] {
        lock.withLock {
            precondition(initialized.allSatisfy { $0 }, "a parallel result slot was never filled")
            let values = Array(buffer)
            _ = buffer.deinitialize()
            initialized = [Bool](repeating: false, count: buffer.count)
            return values
        }
    }

    deinit {
        for i in initialized.indices where initialized[i] { (buffer.baseAddress! + i).deinitialize(count: 1) }
        buffer.deallocate()
    }
}

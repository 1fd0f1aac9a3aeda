import Foundation

/// A restricted pickle reader for torch checkpoints. It interprets the opcode stream as data only:
/// the few globals torch needs are recognised by name and mapped to values (`OrderedDict` → dict,
/// `_rebuild_tensor_v2` → `TorchTensor`); no other global can be named, no object constructed, no
/// code run. Every size the stream declares is checked against what is left, and the stack, memo,
/// nesting and output size are capped so a hostile file fails with an error instead of exhausting
/// memory or time.
public struct Unpickler {
    public struct Limits: Sendable {
        /// `data.pkl` of the largest official checkpoints is well under 1 MB; training checkpoints
        /// with optimizer state stay within a few MB.
        public var maximumPickleBytes = 64 << 20
        public var maximumStackDepth = 1_000_000
        public var maximumMarkDepth = 10_000
        public var maximumMemoEntries = 1_000_000
        /// Nesting of containers (a state dict is 2–4 deep). Enforced as each container is filled,
        /// not afterwards: a value nested 100,000 deep overflows the stack when it is walked or
        /// even freed (its release recurses), so it must never be built.
        public var maximumNesting = 100
        /// Total values produced, counting shared values once per use (stops exponential blow-up
        /// through memoised references).
        public var maximumValues = 2_000_000
        public init() {}
    }

    /// Resolves a persistent id `('storage', type, key, location, numel)` to the storage record.
    public typealias StorageLoader = (_ key: String, _ dtype: DType, _ elementCount: Int) throws -> TorchStorage

    /// The globals a torch checkpoint may name, and nothing else.
    static let allowedGlobals: [String: Global] = {
        var map: [String: Global] = [
            "collections.OrderedDict": .orderedDict,
            "torch._utils._rebuild_tensor_v2": .rebuildTensorV2,
            "torch._utils._rebuild_parameter": .rebuildParameter,
        ]
        let storages: [(String, DType)] = [("Float", .f32), ("Half", .f16), ("BFloat16", .bf16), ("Long", .i64),
                                            ("Int", .i32), ("Bool", .bool), ("Byte", .u8), ("Double", .f64)]
        for (name, dtype) in storages { map["torch.\(name)Storage"] = .storageType(dtype) }
        return map
    }()

    enum Global: Equatable {
        case orderedDict, rebuildTensorV2, rebuildParameter
        case storageType(DType)
    }

    /// A list or dict being filled by the opcode stream. `height` is 1 + the tallest value inside.
    /// Once a box is inside another container (`isPlaced`) it may not change: the container's
    /// recorded height would go stale (a memo reference could then grow a chain of any depth) and
    /// cycles would become possible. Python's pickler fills every container before placing it, so
    /// only recursive structures, which a state dict never holds, are refused by this.
    class Box {
        var height = 1
        var isPlaced = false
    }

    final class ListBox: Box { var items: [Obj] = [] }

    final class DictBox: Box {
        var keys: [Obj] = []
        var values: [Obj] = []
        var index: [DictKey: Int] = [:]

        func set(_ key: Obj, _ value: Obj, source: String) throws {
            let k: DictKey
            switch key {
            case .string(let s): k = .string(s)
            case .int(let i): k = .int(i)
            case .bool(let b): k = .int(b ? 1 : 0)
            case .none: k = .none
            default: throw CheckpointError(source, "pickle: dict key of type \(key.kind) is not supported")
            }
            if let i = index[k] {
                values[i] = value
            } else {
                index[k] = keys.count
                keys.append(key)
                values.append(value)
            }
        }
    }

    enum DictKey: Hashable { case string(String), int(Int64), none }

    enum Obj {
        case none, bool(Bool), int(Int64), bigInt([UInt8]), float(Double), string(String), bytes([UInt8])
        /// `height` as for `Box`; tuples are immutable, so it is fixed when the tuple is made.
        case tuple([Obj], height: Int), list(ListBox), dict(DictBox)
        case global(Global, String)
        case storage(TorchStorage)
        case tensor(TorchTensor)

        /// 0 for a scalar; 1 + the tallest value inside for a container.
        var height: Int {
            switch self {
            case .tuple(_, let height): height
            case .list(let box): box.height
            case .dict(let box): box.height
            default: 0
            }
        }

        var box: Box? {
            switch self {
            case .list(let box): box
            case .dict(let box): box
            default: nil
            }
        }

        var kind: String {
            switch self {
            case .none: "None"
            case .bool: "bool"
            case .int, .bigInt: "int"
            case .float: "float"
            case .string: "str"
            case .bytes: "bytes"
            case .tuple: "tuple"
            case .list: "list"
            case .dict: "dict"
            case .global(_, let name): "global \(name)"
            case .storage: "storage"
            case .tensor: "tensor"
            }
        }
    }

    public let source: String
    public let limits: Limits
    private let data: [UInt8]
    private let loadStorage: StorageLoader

    public init(data: [UInt8], source: String, limits: Limits = Limits(), loadStorage: @escaping StorageLoader) {
        self.data = data
        self.source = source
        self.limits = limits
        self.loadStorage = loadStorage
    }

    private func fail(_ reason: String, at offset: Int) -> CheckpointError {
        CheckpointError(source, "pickle byte \(offset): \(reason)")
    }

    /// Runs the opcode stream to STOP and returns the result.
    public func load() throws -> PickleValue {
        guard data.count <= limits.maximumPickleBytes else {
            throw CheckpointError(source, "pickle is \(data.count) bytes, over the \(limits.maximumPickleBytes)-byte limit")
        }
        var stack: [Obj] = []
        var marks: [Int] = []
        var memo: [Int: Obj] = [:]
        var storages: [String: TorchStorage] = [:]
        var pos = 0
        var opStart = 0

        func need(_ n: Int) throws {
            guard n >= 0, n <= data.count - pos else {
                throw fail("needs \(n) more bytes but only \(data.count - pos) remain (truncated pickle)", at: opStart)
            }
        }
        func readU8() throws -> Int { try need(1); defer { pos += 1 }; return Int(data[pos]) }
        func readLE(_ n: Int) throws -> UInt64 {
            try need(n)
            var v: UInt64 = 0
            for i in 0..<n { v |= UInt64(data[pos + i]) << (8 * UInt64(i)) }
            pos += n
            return v
        }
        func readBytes(_ n: Int) throws -> [UInt8] {
            try need(n)
            defer { pos += n }
            return Array(data[pos..<(pos + n)])
        }
        func readString(_ n: Int) throws -> String {
            let bytes = try readBytes(n)
            guard let s = String(bytes: bytes, encoding: .utf8) else { throw fail("string is not valid UTF-8", at: opStart) }
            return s
        }
        func readLine() throws -> String {
            var end = pos
            while end < data.count, data[end] != 0x0A {
                end += 1
                guard end - pos <= 256 else { throw fail("GLOBAL name longer than 256 bytes", at: opStart) }
            }
            guard end < data.count else { throw fail("GLOBAL name is not terminated (truncated pickle)", at: opStart) }
            let s = try readString(end - pos)
            pos += 1
            return s
        }
        func push(_ o: Obj) throws {
            guard stack.count < limits.maximumStackDepth else { throw fail("stack deeper than \(limits.maximumStackDepth)", at: opStart) }
            stack.append(o)
        }
        func pop() throws -> Obj {
            guard let o = stack.popLast() else { throw fail("stack underflow", at: opStart) }
            if let m = marks.last, stack.count < m { throw fail("popped past a MARK", at: opStart) }
            return o
        }
        func popMark() throws -> [Obj] {
            guard let m = marks.popLast() else { throw fail("no MARK to pop to", at: opStart) }
            guard m <= stack.count else { throw fail("MARK is above the stack", at: opStart) }
            let items = Array(stack[m...])
            stack.removeSubrange(m...)
            return items
        }
        func top() throws -> Obj {
            guard let o = stack.last else { throw fail("stack is empty", at: opStart) }
            return o
        }
        func memoize(_ index: Int) throws {
            guard memo.count < limits.maximumMemoEntries || memo[index] != nil else {
                throw fail("memo holds more than \(limits.maximumMemoEntries) entries", at: opStart)
            }
            memo[index] = try top()
        }
        func recall(_ index: Int) throws -> Obj {
            guard let o = memo[index] else { throw fail("memo entry \(index) was never stored", at: opStart) }
            return o
        }
        func global(_ module: String, _ name: String) throws -> Obj {
            let full = "\(module).\(name)"
            guard let g = Self.allowedGlobals[full] else {
                throw fail("global '\(full)' is not allowed: a checkpoint may only name \(Self.allowedGlobals.keys.sorted().joined(separator: ", "))", at: opStart)
            }
            return .global(g, full)
        }

        /// The height of a container holding `children`, which are placed in it (and so frozen).
        func heightHolding(_ children: [Obj]) throws -> Int {
            let height = 1 + (children.map(\.height).max() ?? 0)
            guard height <= limits.maximumNesting else {
                throw fail("containers nested deeper than \(limits.maximumNesting) levels (a state dict nests 2–4); refused", at: opStart)
            }
            for child in children { child.box?.isPlaced = true }
            return height
        }
        func tuple(_ items: [Obj]) throws -> Obj { .tuple(items, height: try heightHolding(items)) }
        /// Checks that `box` may still change and records that it now holds `children`.
        func fill(_ box: Box, with children: [Obj], _ op: String) throws {
            guard !box.isPlaced else {
                throw fail("\(op) changes a list or dict that is already inside another container (shared or recursive structures are not supported)", at: opStart)
            }
            guard !children.contains(where: { $0.box === box }) else { throw fail("\(op) puts a container inside itself", at: opStart) }
            box.height = max(box.height, try heightHolding(children))
        }

        while true {
            opStart = pos
            guard pos < data.count else { throw fail("pickle ends without STOP (truncated)", at: pos) }
            let byte = data[pos]
            pos += 1
            guard let op = PickleOpcode(rawValue: byte) else {
                let name = PickleOpcode.refusedName(byte).map { "\($0) (0x\(String(byte, radix: 16)))" } ?? "0x\(String(byte, radix: 16))"
                throw fail("opcode \(name) is not supported by the restricted unpickler", at: opStart)
            }
            switch op {
            case .proto:
                let v = try readU8()
                guard v <= 5 else { throw fail("unknown pickle protocol \(v)", at: opStart) }
            case .frame:
                let n = try readLE(8)
                guard n <= UInt64(data.count - pos) else { throw fail("FRAME of \(n) bytes runs past the end", at: opStart) }
            case .stop:
                let result = try pop()
                var budget = limits.maximumValues
                return try convert(result, depth: 0, budget: &budget)
            case .mark:
                guard marks.count < limits.maximumMarkDepth else { throw fail("more than \(limits.maximumMarkDepth) nested MARKs", at: opStart) }
                marks.append(stack.count)
            case .emptyDict: try push(.dict(DictBox()))
            case .emptyList: try push(.list(ListBox()))
            case .emptyTuple: try push(try tuple([]))
            case .tuple: try push(try tuple(try popMark()))
            case .tuple1:
                let a = try pop()
                try push(try tuple([a]))
            case .tuple2:
                let b = try pop(), a = try pop()
                try push(try tuple([a, b]))
            case .tuple3:
                let c = try pop(), b = try pop(), a = try pop()
                try push(try tuple([a, b, c]))
            case .none: try push(.none)
            case .newTrue: try push(.bool(true))
            case .newFalse: try push(.bool(false))
            case .binInt: try push(.int(Int64(Int32(bitPattern: UInt32(try readLE(4))))))
            case .binInt1: try push(.int(Int64(try readU8())))
            case .binInt2: try push(.int(Int64(try readLE(2))))
            case .long1:
                let n = try readU8()
                let bytes = try readBytes(n)
                if n <= 8 {
                    var v: UInt64 = 0
                    for (i, b) in bytes.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
                    if n > 0, n < 8, bytes[n - 1] & 0x80 != 0 { v |= ~0 << (8 * UInt64(n)) }  // sign-extend
                    try push(.int(Int64(bitPattern: v)))
                } else {
                    try push(.bigInt(bytes))
                }
            case .binFloat:
                try need(8)
                var bits: UInt64 = 0
                for i in 0..<8 { bits = bits << 8 | UInt64(data[pos + i]) }
                pos += 8
                try push(.float(Double(bitPattern: bits)))
            case .binUnicode: try push(.string(try readString(Int(try readLE(4)))))
            case .shortBinUnicode: try push(.string(try readString(try readU8())))
            case .binUnicode8:
                let n = try readLE(8)
                guard n <= UInt64(data.count) else { throw fail("string of \(n) bytes runs past the end", at: opStart) }
                try push(.string(try readString(Int(n))))
            case .shortBinBytes: try push(.bytes(try readBytes(try readU8())))
            case .binBytes: try push(.bytes(try readBytes(Int(try readLE(4)))))
            case .binPut: try memoize(try readU8())
            case .longBinPut: try memoize(Int(try readLE(4)))
            case .memoize: try memoize(memo.count)
            case .binGet: try push(try recall(try readU8()))
            case .longBinGet: try push(try recall(Int(try readLE(4))))
            case .setItem:
                let value = try pop(), key = try pop()
                guard case .dict(let d) = try top() else { throw fail("SETITEM on a \(try top().kind), not a dict", at: opStart) }
                try fill(d, with: [value], "SETITEM")
                try d.set(key, value, source: source)
            case .setItems:
                let items = try popMark()
                guard items.count % 2 == 0 else { throw fail("SETITEMS with an odd number of items", at: opStart) }
                guard case .dict(let d) = try top() else { throw fail("SETITEMS on a \(try top().kind), not a dict", at: opStart) }
                try fill(d, with: stride(from: 1, to: items.count, by: 2).map { items[$0] }, "SETITEMS")
                for i in stride(from: 0, to: items.count, by: 2) { try d.set(items[i], items[i + 1], source: source) }
            case .append:
                let value = try pop()
                guard case .list(let l) = try top() else { throw fail("APPEND on a \(try top().kind), not a list", at: opStart) }
                try fill(l, with: [value], "APPEND")
                l.items.append(value)
            case .appends:
                let items = try popMark()
                guard case .list(let l) = try top() else { throw fail("APPENDS on a \(try top().kind), not a list", at: opStart) }
                try fill(l, with: items, "APPENDS")
                l.items.append(contentsOf: items)
            case .global:
                let module = try readLine()
                let name = try readLine()
                try push(try global(module, name))
            case .stackGlobal:
                guard case .string(let name) = try pop(), case .string(let module) = try pop() else {
                    throw fail("STACK_GLOBAL needs two strings", at: opStart)
                }
                try push(try global(module, name))
            case .reduce:
                let args = try pop()
                let callable = try pop()
                try push(try reduce(callable, args, at: opStart))
            case .build:
                let state = try pop()
                // Only OrderedDict state (the `_metadata` attribute of a state dict) is accepted; it
                // carries module versions, which loading plain weights does not need.
                guard case .dict = try top() else { throw fail("BUILD on a \(try top().kind); only OrderedDict state is accepted", at: opStart) }
                switch state {
                case .dict, .none, .tuple: break
                default: throw fail("BUILD with \(state.kind) state", at: opStart)
                }
            case .binPersId:
                let pid = try pop()
                guard case .tuple(let parts, _) = pid, parts.count == 5, case .string("storage") = parts[0],
                      case .global(.storageType(let dtype), _) = parts[1], case .string(let key) = parts[2],
                      case .string = parts[3], case .int(let numel) = parts[4]
                else { throw fail("persistent id is not ('storage', <torch.*Storage>, key, location, numel)", at: opStart) }
                guard numel >= 0, numel <= Int64(Int.max / 8) else { throw fail("storage '\(key)' declares \(numel) elements", at: opStart) }
                if let cached = storages[key] {
                    guard cached.dtype == dtype, cached.elementCount == Int(numel) else {
                        throw fail("storage '\(key)' is referenced as \(dtype.rawValue)×\(numel) and as \(cached.dtype.rawValue)×\(cached.elementCount)", at: opStart)
                    }
                    try push(.storage(cached))
                } else {
                    let storage = try loadStorage(key, dtype, Int(numel))
                    storages[key] = storage
                    try push(.storage(storage))
                }
            }
        }
    }

    private func reduce(_ callable: Obj, _ args: Obj, at offset: Int) throws -> Obj {
        guard case .tuple(let a, _) = args else { throw fail("REDUCE arguments are a \(args.kind), not a tuple", at: offset) }
        guard case .global(let g, let name) = callable else { throw fail("REDUCE on a \(callable.kind), which is not callable", at: offset) }
        switch g {
        case .orderedDict:
            guard a.isEmpty else { throw fail("collections.OrderedDict called with arguments", at: offset) }
            return .dict(DictBox())
        case .rebuildTensorV2:
            // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
            guard a.count == 6 || a.count == 7, case .storage(let storage) = a[0], case .int(let storageOffset) = a[1],
                  case .tuple(let sizeObjs, _) = a[2], case .tuple(let strideObjs, _) = a[3], case .bool(let requiresGrad) = a[4]
            else { throw fail("_rebuild_tensor_v2 arguments are not (storage, offset, size, stride, requires_grad, hooks)", at: offset) }
            func ints(_ objs: [Obj], _ what: String) throws -> [Int] {
                try objs.map {
                    guard case .int(let v) = $0, v >= 0, v <= Int64(Int32.max) * 1024 else { throw fail("tensor \(what) \(objs.map(\.kind)) has a non-integer or out-of-range entry", at: offset) }
                    return Int(v)
                }
            }
            guard storageOffset >= 0, storageOffset <= Int64(Int.max / 8) else { throw fail("storage offset \(storageOffset) is out of range", at: offset) }
            do {
                return .tensor(try TorchTensor(storage: storage, storageOffset: Int(storageOffset), shape: try ints(sizeObjs, "size"),
                                               strides: try ints(strideObjs, "stride"), requiresGrad: requiresGrad))
            } catch let error as CheckpointError {
                throw fail(error.reason, at: offset)
            }
        case .rebuildParameter:
            guard a.count == 3, case .tensor(let t) = a[0] else { throw fail("_rebuild_parameter arguments are not (tensor, requires_grad, hooks)", at: offset) }
            return .tensor(t)
        case .storageType:
            throw fail("calling storage class \(name) is not supported", at: offset)
        }
    }

    /// Turns the working objects into immutable values, bounding total size. Depth was bounded as
    /// the containers were filled; the check here only keeps this recursion safe on its own.
    private func convert(_ o: Obj, depth: Int, budget: inout Int) throws -> PickleValue {
        guard depth <= limits.maximumNesting else {
            throw CheckpointError(source, "pickle: containers nested deeper than \(limits.maximumNesting) levels")
        }
        budget -= 1
        guard budget >= 0 else { throw CheckpointError(source, "pickle: result has more than \(limits.maximumValues) values") }
        switch o {
        case .none: return .none
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .bigInt(let b): return .bigInt(b)
        case .float(let f): return .float(f)
        case .string(let s): return .string(s)
        case .bytes(let b): return .bytes(b)
        case .tuple(let items, _): return .tuple(try items.map { try convert($0, depth: depth + 1, budget: &budget) })
        case .list(let box): return .list(try box.items.map { try convert($0, depth: depth + 1, budget: &budget) })
        case .dict(let box):
            var entries: [PickleDictEntry] = []
            entries.reserveCapacity(box.keys.count)
            for (k, v) in zip(box.keys, box.values) {
                entries.append(PickleDictEntry(key: try convert(k, depth: depth + 1, budget: &budget),
                                               value: try convert(v, depth: depth + 1, budget: &budget)))
            }
            return .dict(entries)
        case .tensor(let t): return .tensor(t)
        case .global(_, let name): throw CheckpointError(source, "pickle: result contains the bare global '\(name)'")
        case .storage(let s): throw CheckpointError(source, "pickle: result contains the bare storage '\(s.key)'")
        }
    }
}

/// The pickle opcodes the restricted unpickler understands: what `torch.save` emits (protocol 2 by
/// default) plus the protocol 4 framing/memo/string forms a `pickle_protocol=4` save would use.
/// Anything else — notably INST/OBJ/NEWOBJ, PERSID (text), EXT*, and the string-based forms that
/// Python 2 used — is rejected by name.
enum PickleOpcode: UInt8, CaseIterable {
    case proto = 0x80            // PROTO n
    case frame = 0x95            // FRAME u64 (protocol 4; only a hint)
    case stop = 0x2E             // .
    case mark = 0x28             // (
    case emptyDict = 0x7D        // }
    case emptyList = 0x5D        // ]
    case emptyTuple = 0x29       // )
    case tuple = 0x74            // t
    case tuple1 = 0x85
    case tuple2 = 0x86
    case tuple3 = 0x87
    case none = 0x4E             // N
    case newTrue = 0x88
    case newFalse = 0x89
    case binInt = 0x4A           // J  int32
    case binInt1 = 0x4B          // K  uint8
    case binInt2 = 0x4D          // M  uint16
    case long1 = 0x8A            // n bytes of two's complement
    case binFloat = 0x47         // G  big-endian float64
    case binUnicode = 0x58       // X  u32 length + UTF-8
    case shortBinUnicode = 0x8C  // u8 length + UTF-8 (protocol 4)
    case binUnicode8 = 0x8D      // u64 length + UTF-8 (protocol 4)
    case shortBinBytes = 0x43    // C
    case binBytes = 0x42         // B
    case binPut = 0x71           // q
    case longBinPut = 0x72       // r
    case memoize = 0x94          // protocol 4
    case binGet = 0x68           // h
    case longBinGet = 0x6A       // j
    case setItem = 0x73          // s
    case setItems = 0x75         // u
    case append = 0x61           // a
    case appends = 0x65          // e
    case global = 0x63           // c  "module\nname\n"
    case stackGlobal = 0x93      // protocol 4
    case reduce = 0x52           // R
    case build = 0x62            // b
    case binPersId = 0x51        // Q

    /// Names of well-known opcodes we refuse, so the error says what the file tried to do.
    static func refusedName(_ byte: UInt8) -> String? {
        switch byte {
        case 0x69: "INST"
        case 0x6F: "OBJ"
        case 0x81: "NEWOBJ"
        case 0x92: "NEWOBJ_EX"
        case 0x50: "PERSID"
        case 0x82, 0x83, 0x84: "EXT"
        case 0x53: "STRING"
        case 0x54: "BINSTRING"
        case 0x55: "SHORT_BINSTRING"
        case 0x56: "UNICODE"
        case 0x49: "INT"
        case 0x4C: "LONG"
        case 0x8B: "LONG4"
        case 0x46: "FLOAT"
        case 0x70: "PUT"
        case 0x67: "GET"
        case 0x30: "POP"
        case 0x31: "POP_MARK"
        case 0x32: "DUP"
        case 0x8F: "EMPTY_SET"
        case 0x90: "ADDITEMS"
        case 0x91: "FROZENSET"
        case 0x8E: "BINBYTES8"
        case 0x96: "BYTEARRAY8"
        case 0x97: "NEXT_BUFFER"
        case 0x98: "READONLY_BUFFER"
        case 0x6C: "LIST"
        case 0x64: "DICT"
        default: nil
        }
    }
}

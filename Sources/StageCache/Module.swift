import CLMDB
import CZstd
import CCrypto
public func _linkCheck() -> String { String(cString: mdb_version(nil, nil, nil)) + " zstd \(ZSTD_versionNumber())" }

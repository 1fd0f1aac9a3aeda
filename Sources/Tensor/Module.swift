import CBLAS
public func _blasCheck() -> Int32 { openblas_get_num_threads() }

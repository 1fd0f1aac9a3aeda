import CVips
public func _vipsCheck() -> Int32 { fssam_vips_init("fssam") }

/// float32 ↔ float16 for the explicit lossy codec. Swift's `Float16` conversion rounds to nearest,
/// ties to even, and keeps ±Inf and NaN (with -target-cpu haswell it is the F16C instruction).
enum Float16Conversion {
    static func narrow(_ src: UnsafePointer<Float>, count n: Int, into dst: UnsafeMutableRawPointer) {
        for i in 0..<n { dst.storeBytes(of: Float16(src[i]).bitPattern, toByteOffset: 2 * i, as: UInt16.self) }
    }

    static func widen(_ src: UnsafeRawPointer, count n: Int, into dst: UnsafeMutablePointer<Float>) {
        for i in 0..<n { dst[i] = Float(Float16(bitPattern: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
    }

    static func roundTrip(_ src: UnsafePointer<Float>, count n: Int, into dst: UnsafeMutablePointer<Float>) {
        for i in 0..<n { dst[i] = Float(Float16(src[i])) }
    }
}

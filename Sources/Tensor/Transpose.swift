/// Matrix transposes (channel-major ↔ token-major maps).
public enum Transpose {
    /// `out [columns, rows] = srcᵀ` for row-major `src [rows, columns]`.
    ///
    /// In 8×8 tiles: the maps here have power-of-two row lengths (256 channels, 1024 tokens), so
    /// the lines of a wider tile fall into one L1 set and evict each other (a 32×32 tile ran at
    /// ~3.5 ns per element on a 1024×256 map). Tile rows are split across threads for large maps.
    public static func matrix(_ src: UnsafePointer<Float>, rows: Int, columns: Int, into out: UnsafeMutablePointer<Float>) {
        let tile = 8
        let tileRows = (rows + tile - 1) / tile
        nonisolated(unsafe) let (s, d) = (src, out)
        let body = { (rt: Int) in
            let r0 = rt * tile, r1 = Swift.min(rows, r0 + tile)
            for c0 in stride(from: 0, to: columns, by: tile) {
                let c1 = Swift.min(columns, c0 + tile)
                for c in c0..<c1 {
                    let column = d + c * rows
                    for r in r0..<r1 { column[r] = s[r * columns + c] }
                }
            }
        }
        if rows * columns >= 1 << 16 {
            ComputeThreads.parallelFor(tileRows, body)
        } else {
            for rt in 0..<tileRows { body(rt) }
        }
    }

    /// `[rows, columns]` tensor → `[columns, rows]`.
    public static func matrix(_ x: Tensor, rows: Int, columns: Int) -> Tensor {
        precondition(x.count == rows * columns, "transpose: \(x.shape) is not \(rows)x\(columns)")
        return Tensor(shape: [columns, rows]) { out in
            x.withUnsafeBufferPointer { matrix($0.baseAddress!, rows: rows, columns: columns, into: out.baseAddress!) }
        }
    }
}

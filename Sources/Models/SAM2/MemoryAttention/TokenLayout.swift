import Tensor

/// Conversions between channel-major maps (`[C, H, W]`, or NCHW with N = 1) and token-major
/// sequences (`[H·W, C]`, token `t = y·W + x`): SAM 2's `flatten(2).permute(2, 0, 1)` and
/// `permute(1, 2, 0).view(C, H, W)` for one image.
enum TokenLayout {
    /// `[C, H, W]` (or `[1, C, H, W]`) → `[H·W, C]`.
    static func tokens(fromMap map: Tensor, name: String) throws -> (tokens: Tensor, height: Int, width: Int) {
        let dims = map.rank == 4 && map.shape[0] == 1 ? Array(map.shape.dropFirst()) : map.shape
        guard dims.count == 3 else {
            throw ModelError(name, "expected a [C, H, W] or [1, C, H, W] map, got \(map.shape)")
        }
        let (c, h, w) = (dims[0], dims[1], dims[2])
        return (transpose(map, rows: c, columns: h * w), h, w)
    }

    /// `[H·W, C]` → `[1, C, H, W]`.
    static func map(fromTokens tokens: Tensor, channels: Int, height: Int, width: Int) -> Tensor {
        transpose(tokens, rows: height * width, columns: channels).reshaped([1, channels, height, width])
    }

    /// Row-major `[rows, columns]` → `[columns, rows]`.
    static func transpose(_ x: Tensor, rows: Int, columns: Int) -> Tensor {
        Transpose.matrix(x, rows: rows, columns: columns)
    }
}

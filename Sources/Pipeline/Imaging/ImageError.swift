/// Why an image or mask could not be used. The caller adds which item and file it was.
public enum ImageError: Error, Equatable, Sendable, CustomStringConvertible {
    case unreadable(String)
    case empty
    case decode(String)
    case tooLarge(width: Int, height: Int, limit: Int)
    case unsupported(String)
    /// The content is another format (or none we know): what it was detected as.
    case notSupported(String)

    public var description: String {
        switch self {
        case .unreadable(let why): "cannot read the file: \(why)"
        case .empty: "the file is empty (0 bytes)"
        case .decode(let why): "not a decodable image: \(why)"
        case .tooLarge(let w, let h, let limit):
            "\(w)x\(h) = \(w * h) pixels is over the limit of \(limit) pixels (raise it with --max-pixels if this is intended)"
        case .unsupported(let why): "unsupported image: \(why)"
        case .notSupported(let detected): "\(detected), not a supported image (\(ImageFormat.supportedList))"
        }
    }
}

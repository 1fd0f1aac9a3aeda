/// The query items of a run: a folder walked recursively (`--queries`) or a manifest (`--manifest`).
public enum QueryListing: Sequence, Sendable {
    case directory(DirectoryListing)
    case manifest(ManifestListing)

    public struct Iterator: IteratorProtocol {
        var directory: DirectoryListing.Iterator?
        var manifest: ManifestListing.Iterator?

        public mutating func next() -> InputEntry? {
            if directory != nil { return directory!.next() }
            return manifest?.next()
        }
    }

    public func makeIterator() -> Iterator {
        switch self {
        case .directory(let listing): return Iterator(directory: listing.makeIterator(), manifest: nil)
        case .manifest(let listing): return Iterator(directory: nil, manifest: listing.makeIterator())
        }
    }
}

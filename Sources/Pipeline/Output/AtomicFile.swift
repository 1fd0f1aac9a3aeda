/// Writes files so that a reader (or a crash) never sees a half-written one: the bytes go to a
/// temporary file in the same directory, are flushed to disk, and the file is renamed into place.
public enum AtomicFile {
    public static func write(_ bytes: [UInt8], to path: String) throws {
        let file = try AtomicFileWriter(path: path)
        try file.write(bytes)
        try file.commit()
    }
}

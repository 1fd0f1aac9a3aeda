/// Result of checking every blob and record.
public struct VerificationReport: Sendable, Codable {
    public var blobsChecked = 0
    public var recordsChecked = 0
    public var doneRecordsChecked = 0
    /// One line per problem, naming the digest / key / item.
    public var problems: [String] = []
    public var isClean: Bool { problems.isEmpty }
}

extension CacheStore {
    /// Decodes every blob and checks it against its digest; checks every record decodes and its
    /// blobs exist, and every done-record's outputs exist.
    public func verifyAll() throws -> VerificationReport {
        try environment.checkStructure()
        var report = VerificationReport()
        let codec = options.codec
        var present = Set<Digest>()
        try environment.scan(.blobs, pageSize: 64) { k, v in
            report.blobsChecked += 1
            guard k.count == 32 else { report.problems.append("blobs: key of \(k.count) bytes is not a digest"); return }
            let d = Digest(bytes: k)
            present.insert(d)
            do { _ = try codec.decode(v, expected: d) } catch { report.problems.append("blob \(d.hex): \(error)") }
        }
        try environment.scan(.records) { k, v in
            report.recordsChecked += 1
            let key = k.count == 32 ? Digest(bytes: k) : nil
            guard let key else { report.problems.append("records: key of \(k.count) bytes is not a digest"); return }
            do {
                let r = try CacheRecord(decoding: Array(v))
                if r.key != key { report.problems.append("record \(key.hex): stored key field \(r.key.hex) differs") }
                if Digest.sha256(r.preimage) != key { report.problems.append("record \(key.hex): preimage hashes to \(Digest.sha256(r.preimage).hex)") }
                for o in r.outputs where !present.contains(o.digest) {
                    report.problems.append("record \(key.hex) (stage \(r.stage)): output \(o.name) blob \(o.digest.hex) is missing")
                }
            } catch { report.problems.append("record \(key.hex): \(error)") }
        }
        try environment.scan(.done) { k, v in
            report.doneRecordsChecked += 1
            do {
                let d = try DoneRecord(key: Array(k), value: Array(v))
                for (name, digest) in d.outputs where !present.contains(digest) {
                    report.problems.append("done \(d.run)/\(d.item): output \(name) blob \(digest.hex) is missing")
                }
            } catch { report.problems.append("done record: \(error)") }
        }
        return report
    }
}

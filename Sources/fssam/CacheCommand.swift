import ArgumentParser
import Foundation
import StageCache

/// `fssam cache …`: inspect and maintain the stage cache.
struct CacheCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache",
        abstract: "Inspect and maintain the stage cache (LMDB + zstd, content-addressed).",
        discussion: "The cache directory is --cache DIR, else $FSSAM_CACHE, else ./Cache.",
        subcommands: [CacheStats.self, CacheVerify.self, CacheGC.self, CacheCopy.self, CacheExplain.self, CacheSelfCheck.self])
}

/// Options every `cache` subcommand shares.
struct CacheLocation: ParsableArguments {
    @Option(name: .customLong("cache"), help: ArgumentHelp("Cache directory.", valueName: "DIR"))
    var cache: String?

    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false

    var directory: String { get throws { try cacheDirectory(cache) } }

    /// Opens the cache or explains, naming the directory, why it cannot. `readOnly` for commands
    /// that only read: they then work on a cache this user cannot write (MDB_RDONLY).
    func open(readOnly: Bool = false) throws -> CacheStore {
        let directory = try self.directory
        if !FileManager.default.fileExists(atPath: directory + "/data.mdb") {
            throw CLIError("no cache at \(directory) (no data.mdb there); pass --cache DIR or set FSSAM_CACHE")
        }
        var options = CacheOptions()
        if readOnly { options.access = .readOnly }
        do { return try CacheStore(directory: directory, options: options) } catch let error as CacheError {
            throw error  // already names the cache and what to do
        } catch {
            throw CLIError("cannot open cache at \(directory): \(error)")
        }
    }
}

/// The cache directory every command uses: `--cache`, then `$FSSAM_CACHE`, then `./Cache`. Something
/// other than a folder there is refused here, in words, for every command.
func cacheDirectory(_ option: String?) throws -> String {
    let environment = ProcessInfo.processInfo.environment["FSSAM_CACHE"].flatMap { $0.isEmpty ? nil : $0 }
    let (directory, origin) = option.map { ($0, "--cache \($0)") }
        ?? environment.map { ($0, "FSSAM_CACHE=\($0)") } ?? ("./Cache", "the default cache ./Cache")
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), !isDirectory.boolValue {
        throw CLIError("\(origin) is a file, not a folder: give a folder (it is created when missing)")
    }
    return directory
}

struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Prints errors as one clear line and exits non-zero (instead of a type dump).
func reportingErrors(_ command: String, _ body: () async throws -> Void) async throws {
    do { try await body() } catch let e as ExitCode { throw e } catch {
        FileHandle.standardError.write(Data("fssam cache \(command): \(error)\n".utf8))
        throw ExitCode.failure
    }
}

func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

func formatBytes(_ n: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var v = Double(n), u = 0
    while v >= 1024 && u < units.count - 1 { v /= 1024; u += 1 }
    return u == 0 ? "\(n) B" : String(format: "%.2f %@", v, units[u])
}

struct CacheStats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stats",
        abstract: "Per-stage records, bytes (raw / stored / mean per record), hits and misses.")
    @OptionGroup var location: CacheLocation

    func run() async throws {
        try await reportingErrors("stats") {
            let cache = try location.open(readOnly: true)
            defer { cache.close() }
            let s = try cache.statistics()
            if location.json { try printJSON(s); return }
            print("cache \(s.directory)  (format \(s.formatVersion), data.mdb \(formatBytes(s.fileBytes)), map \(formatBytes(s.mapSize)))")
            print("\(s.records) records, \(s.blobs) blobs: \(formatBytes(s.blobStoredBytes)) stored for \(formatBytes(s.blobRawBytes)) raw, \(s.doneRecords) done-records")
            let header = ["stage", "records", "raw", "stored", "ratio", "stored/record", "hits", "misses", "corrupt"]
            var rows = [header]
            for st in s.stages {
                rows.append([st.stage, String(st.records), formatBytes(st.rawBytes), formatBytes(st.storedBytes),
                             String(format: "%.2f×", st.compressionRatio), formatBytes(Int(st.meanStoredBytesPerRecord)),
                             String(st.hits), String(st.misses), String(st.corrupt)])
            }
            let widths = (0..<header.count).map { c in rows.map { $0[c].count }.max()! }
            for r in rows {
                print(r.enumerated().map { c, v in c == 0 ? v.padding(toLength: widths[c], withPad: " ", startingAt: 0)
                                                            : String(repeating: " ", count: widths[c] - v.count) + v }.joined(separator: "  "))
            }
        }
    }
}

struct CacheVerify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "verify",
        abstract: "Decode every blob and check its digest; check every record's blobs exist. Exits 1 on any problem.")
    @OptionGroup var location: CacheLocation

    func run() async throws {
        var clean = true
        try await reportingErrors("verify") {
            let cache = try location.open(readOnly: true)
            defer { cache.close() }
            let report = try cache.verifyAll()
            clean = report.isClean
            if location.json { try printJSON(report); return }
            for p in report.problems { print("problem: \(p)") }
            print("\(report.blobsChecked) blobs, \(report.recordsChecked) records, \(report.doneRecordsChecked) done-records checked: "
                  + (report.isClean ? "OK" : "\(report.problems.count) problem(s) in \(cache.directory)"))
        }
        if !clean { throw ExitCode(1) }
    }
}

struct CacheGC: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gc",
        abstract: "Remove records unused for a while or beyond a size budget (LRU first), then unreferenced blobs.",
        discussion: "Done-records keep their outputs alive until their run is dropped with --drop-run. "
            + "data.mdb does not shrink (LMDB reuses the pages); `fssam cache copy` writes a compacted copy.")
    @OptionGroup var location: CacheLocation
    @Option(help: ArgumentHelp("Remove records not used for this long (30d, 12h, 15m, 90s).", valueName: "AGE"))
    var olderThan: String?
    @Option(help: ArgumentHelp("Remove least-recently-used records until stored blobs fit (500M, 10G).", valueName: "SIZE"))
    var budget: String?
    @Option(name: .customLong("drop-run"), help: ArgumentHelp("Drop the done-records of this run first (repeatable).", valueName: "RUN"))
    var dropRuns: [String] = []

    func validate() throws {
        if (olderThan == nil) == (budget == nil) && dropRuns.isEmpty {
            throw ValidationError("give exactly one of --older-than AGE or --budget SIZE (or only --drop-run RUN)")
        }
        if olderThan != nil && budget != nil { throw ValidationError("--older-than and --budget are exclusive") }
    }

    func run() async throws {
        try await reportingErrors("gc") {
            let policy: GCPolicy
            if let olderThan { policy = .unusedSince(Clock.now() - (try parseAge(olderThan, option: "--older-than"))) }
            else if let budget { policy = .sizeBudget(try parseSize(budget, option: "--budget")) }
            else { policy = .unusedSince(-.infinity) }
            let cache = try location.open()
            let report: GCReport
            do {
                report = try await cache.collectGarbage(policy, dropRuns: dropRuns)
                try await cache.flushAndClose()
            } catch {
                cache.close(); throw error
            }
            if location.json { try printJSON(report); return }
            print("removed \(report.recordsRemoved) records, \(report.blobsRemoved) blobs, \(report.doneRecordsRemoved) done-records; "
                  + "stored blobs \(formatBytes(report.blobBytesBefore)) → \(formatBytes(report.blobBytesAfter))")
        }
    }
}

struct CacheCopy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "copy",
        abstract: "Write a compacted copy of the cache (mdb_env_copy2 with MDB_CP_COMPACT) into a new directory.")
    @OptionGroup var location: CacheLocation
    @Argument(help: ArgumentHelp("Destination directory (must not hold a cache).", valueName: "DEST"))
    var destination: String

    func run() async throws {
        try await reportingErrors("copy") {
            let cache = try location.open(readOnly: true)
            do { try await cache.copyCompacted(to: destination) } catch {
                cache.close(); throw CLIError("copy of \(cache.directory) to \(destination) failed: \(error)")
            }
            cache.close()
            let size = (try? FileManager.default.attributesOfItem(atPath: destination + "/data.mdb")[.size] as? Int) ?? 0
            if location.json { try printJSON(["destination": destination, "bytes": String(size)]); return }
            print("compacted copy written to \(destination) (data.mdb \(formatBytes(size)))")
        }
    }
}

struct CacheExplain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "explain",
        abstract: "Print a record and its key preimage decoded: stage, version, weights, params, inputs, sizes.")
    @OptionGroup var location: CacheLocation
    @Argument(help: ArgumentHelp("Record key (hex digest, or a unique prefix of at least 6 hex digits).", valueName: "KEY"))
    var key: String

    struct Explanation: Encodable {
        struct Output: Encodable { let name, digest, kind: String; let rawBytes, storedBytes: Int }
        let key, stage: String
        let stageVersion: Int64
        let weightsDigest: String?
        let parameters: [String: String]
        let inputs: [String: String]
        let outputs: [Output]
        let createdAt, lastUsedAt: Double
        let threads, batchSize: Int
        let computeSeconds: Double
    }

    func run() async throws {
        try await reportingErrors("explain") {
            let cache = try location.open(readOnly: true)
            defer { cache.close() }
            let matches = try cache.recordKeys(matchingPrefix: key)
            guard matches.count == 1 else {
                throw CLIError(matches.isEmpty ? "no record with key \(key) in \(cache.directory)"
                                               : "key prefix \(key) matches \(matches.count) records; give more digits")
            }
            guard let record = try cache.record(matches[0]) else { throw CLIError("record \(matches[0].hex) vanished") }
            let stageKey: StageKey
            do { stageKey = try StageKey(preimage: record.preimage) } catch {
                throw CLIError("record \(record.key.hex): stored preimage does not decode: \(error)")
            }
            if location.json {
                try printJSON(Explanation(
                    key: record.key.hex, stage: stageKey.stage, stageVersion: stageKey.version,
                    weightsDigest: stageKey.weightsDigest?.hex,
                    parameters: stageKey.parameters.mapValues(\.description), inputs: stageKey.inputs.mapValues(\.hex),
                    outputs: record.outputs.map { .init(name: $0.name, digest: $0.digest.hex, kind: $0.kind.description,
                                                        rawBytes: $0.rawBytes, storedBytes: $0.storedBytes) },
                    createdAt: record.createdAt, lastUsedAt: record.lastUsedAt, threads: record.speed.threads,
                    batchSize: record.speed.batchSize, computeSeconds: record.speed.computeSeconds))
                return
            }
            let date = { (t: Double) in ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: t)) }
            print("key:      \(record.key.hex)")
            print(stageKey.explanation)
            print("outputs:")
            for o in record.outputs {
                print("  \(o.name): \(o.digest.hex)  \(o.kind)  raw \(formatBytes(o.rawBytes))  stored \(formatBytes(o.storedBytes))")
            }
            print("stored:   \(formatBytes(record.storedBytes)) for \(formatBytes(record.rawBytes)) raw")
            print("created:  \(date(record.createdAt))   last used: \(date(record.lastUsedAt))")
            print("computed: \(String(format: "%.3f", record.speed.computeSeconds)) s on \(record.speed.threads) thread(s), batch \(record.speed.batchSize) (not part of the key)")
        }
    }
}

struct CacheSelfCheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "selfcheck",
        abstract: "Write, read back and verify tensors in a temporary cache, and report timings.")
    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false

    struct Report: Encodable {
        var directory = "", ok = false
        var steps: [String] = []
        var writeMilliseconds = 0.0, readMilliseconds = 0.0
        var storedBytes = 0, rawBytes = 0
    }

    func run() async throws {
        var report = Report()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fssam-selfcheck-\(getpid())").path
        report.directory = dir
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await reportingErrors("selfcheck") {
            func step(_ s: String) { report.steps.append(s); if !json { print("  ok  \(s)") } }
            if !json { print("fssam cache selfcheck in \(dir)") }
            let count = 256 * 48 * 50
            let features = CacheTensor(shape: [256, 48, 50], floats: (0..<count).map { (i: Int) -> Float in
                let x = Float(i % 50), y = Float(i / 50 % 48)
                return sin(x * 0.1) * cos(y * 0.13) + Float(i % 7) * 1e-3
            })
            let mask = CacheTensor(shape: [64, 64], mask: (0..<4096).map { (i: Int) -> Bool in
                let dy = i / 64 - 32, dx = i % 64 - 32
                return dx * dx + dy * dy < 300
            })
            let special = CacheTensor(shape: [4], floats: [-0.0, .infinity, Float(bitPattern: 0x7fc0_1234), 1])
            let key = StageKey(stage: "selfcheck", version: 1, weightsDigest: Digest.sha256(Array("weights".utf8)),
                               parameters: ["alpha": .float(0.5), "iterations": .int(3)], inputs: ["image": Digest.sha256([1, 2, 3])])
            var cache = try CacheStore(directory: dir)
            let t0 = Date()
            let prepared = try cache.prepare(key, outputs: ["features": features, "mask": mask, "special": special],
                                             speed: SpeedMetadata(threads: 2, computeSeconds: 0.5))
            try await cache.complete(run: "selfcheck", item: "item-0", records: [prepared], outputs: prepared.outputDigests)
            try await cache.flushAndClose()
            report.writeMilliseconds = Date().timeIntervalSince(t0) * 1000
            step("wrote a record (3 outputs) and its done-record in one transaction")
            cache = try CacheStore(directory: dir)
            defer { cache.close() }
            let t1 = Date()
            guard let hit = cache.lookup(key) else { throw CLIError("record written to \(dir) was not found on reopen") }
            report.readMilliseconds = Date().timeIntervalSince(t1) * 1000
            guard hit.outputs["features"]!.isBitwiseEqual(to: features), hit.outputs["mask"]!.isBitwiseEqual(to: mask),
                  hit.outputs["special"]!.isBitwiseEqual(to: special)
            else { throw CLIError("read-back differs from what was written in \(dir)") }
            step("read back bit-identical (incl. -0.0, +Inf, NaN payload) after reopening")
            guard try cache.isDone(run: "selfcheck", item: "item-0") else { throw CLIError("done-record missing in \(dir)") }
            step("done-record present")
            let verify = try cache.verifyAll()
            guard verify.isClean else { throw CLIError("verify found: \(verify.problems.joined(separator: "; "))") }
            step("verify: \(verify.blobsChecked) blobs and \(verify.recordsChecked) record match their digests")
            report.storedBytes = hit.record.storedBytes; report.rawBytes = hit.record.rawBytes
            report.ok = true
        }
        if json { try printJSON(report) } else {
            print(String(format: "selfcheck OK: wrote %.1f ms, hit %.2f ms, %@ stored for %@ raw", report.writeMilliseconds,
                         report.readMilliseconds, formatBytes(report.storedBytes), formatBytes(report.rawBytes)))
        }
    }
}

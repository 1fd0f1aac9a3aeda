import Pipeline

// Fuzz targets for the query manifests (JSON lines and CSV, every line listed) and the
// evaluation's list files (data list, class-pool literal, episode list).
extension FuzzTarget {
    static let manifestTargets: [FuzzTarget] = [
        FuzzTarget(name: "manifest") { input, scratch in
            // The same bytes as both formats: the extension chooses the parser. A manifest that
            // cannot be opened at all (a CSV header that does not parse) is an orderly outcome.
            for name in ["manifest.jsonl", "manifest.csv"] {
                let path = scratch + "/" + name
                try AtomicFile.write(input, to: path)
                guard let listing = try? ManifestListing(path: path) else { continue }
                for _ in listing {}
            }
        },
        FuzzTarget(name: "list-file") { input, scratch in
            let text = String(decoding: input, as: UTF8.self)
            _ = try? EvalLists.parseDataList(text, file: "data_list_0.txt")
            _ = try? PythonDictLiteral.parseClassPools(text, file: "sub_class_file_list_0.txt")
            let path = scratch + "/episodes.jsonl"
            try AtomicFile.write(input, to: path)
            let layout = DatasetLayout(dataset: .pascal, root: scratch + "/data")
            _ = try EpisodeListFile.read(path, classes: [1, 2, 3, 4, 5], shots: 1, layout: layout)
        },
    ]
}

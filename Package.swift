// swift-tools-version:6.0
import PackageDescription

// SIMD code needs a target CPU, otherwise `SIMD8<Float>` FMAs become per-lane libm calls
// (PLATFORM-NOTES §5). `haswell` = AVX2 + FMA, runs on every x86-64 machine we deploy to.
// On other architectures the default target is fine.
#if arch(x86_64)
let cpuFlags: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"])]
#else
let cpuFlags: [SwiftSetting] = []
#endif
let swiftSettings: [SwiftSetting] = cpuFlags
#if arch(x86_64)
let avx512Flags: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "skylake-avx512"])]
#else
let avx512Flags: [SwiftSetting] = []
#endif

let package = Package(
    name: "fssam",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "fssam", targets: ["fssam"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // System libraries (Debian providers; scripts/setup.sh installs them).
        .systemLibrary(name: "CLMDB", pkgConfig: "lmdb", providers: [.apt(["liblmdb-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CVips", pkgConfig: "vips", providers: [.apt(["libvips-dev"])]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),

        // Model arithmetic. TensorAVX512 holds the AVX-512 kernels and is compiled for AVX-512;
        // Tensor enters it only after a run-time CPU check (CPUFeatures), so the binary still runs
        // on AVX2 machines.
        .target(name: "Tensor", dependencies: ["CBLAS", "TensorAVX512"], swiftSettings: swiftSettings),
        .target(name: "TensorAVX512", swiftSettings: avx512Flags),
        // Opening and size/nesting limits for every file fssam reads (DESIGN: untrusted files are data).
        .target(name: "UntrustedInput", swiftSettings: swiftSettings),
        .target(name: "Checkpoint", dependencies: ["Tensor", "UntrustedInput"], swiftSettings: swiftSettings),
        .target(name: "Models", dependencies: ["Tensor", "Checkpoint"], swiftSettings: swiftSettings),

        // Content-addressed stage cache.
        .target(name: "StageCache", dependencies: ["CLMDB", "CZstd", "CCrypto"], swiftSettings: swiftSettings),

        // Stages, pipeline files, executor, inputs and exports.
        .target(name: "Pipeline", dependencies: ["StageCache", "Models", "Tensor", "Checkpoint", "CVips", "UntrustedInput",
                                             .product(name: "Yams", package: "Yams")],
                swiftSettings: swiftSettings),

        // The command-line tool: argument parsing and wiring only.
        .executableTarget(
            name: "fssam",
            dependencies: [
                "StageCache", "Pipeline", "Models", "Checkpoint", "Tensor",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings),

        // Benchmarks (executables, not tests): they print ratios against a peer measured in the same run.
        .executableTarget(name: "DINOv2Benchmark", dependencies: ["Models", "Checkpoint", "Tensor"],
                          path: "Sources/DINOv2Benchmark", swiftSettings: swiftSettings),
        .executableTarget(name: "CacheBenchmark", dependencies: ["StageCache", "CZstd"], path: "Sources/CacheBenchmark",
                          swiftSettings: swiftSettings),

        // Child process for the StageCache crash / two-writer tests (killed with SIGKILL mid-batch).
        .executableTarget(name: "CacheStressWriter", dependencies: ["StageCache"], path: "Sources/CacheStressWriter",
                          swiftSettings: swiftSettings),
        // In-process fuzzing of every parser, one target per run; FuzzTests runs it in child processes with time limits.
        .executableTarget(name: "FuzzRunner", dependencies: ["Pipeline", "Checkpoint", "StageCache"], path: "Sources/FuzzRunner",
                          swiftSettings: swiftSettings),
        .executableTarget(name: "HieraBenchmark", dependencies: ["Models", "Checkpoint", "Tensor"],
                          path: "Sources/HieraBenchmark", swiftSettings: swiftSettings),
        .executableTarget(name: "RunBenchmark", dependencies: ["Pipeline", "Models", "Checkpoint", "StageCache", "Tensor"],
                          path: "Sources/RunBenchmark", swiftSettings: swiftSettings),

        // Locates ../shared/fixtures (or $FSSAM_FIXTURES) for the parity tests.
        .target(name: "FixtureSupport", dependencies: ["Tensor"], path: "Tests/FixtureSupport"),

        .testTarget(name: "TensorTests", dependencies: ["Tensor", "Checkpoint", "FixtureSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint", "Tensor", "FixtureSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Checkpoint", "Tensor", "FixtureSupport"],
                    swiftSettings: swiftSettings),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "FixtureSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "StageCacheTests", dependencies: ["StageCache", "CLMDB", "CacheStressWriter", "FixtureSupport"],
                    swiftSettings: swiftSettings),
        .testTarget(name: "FuzzTests", dependencies: ["FuzzRunner", "FixtureSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "FssamCLITests", dependencies: ["fssam", "FixtureSupport", "Pipeline", "StageCache", "Checkpoint", "Tensor"],
                    swiftSettings: swiftSettings),
    ]
)

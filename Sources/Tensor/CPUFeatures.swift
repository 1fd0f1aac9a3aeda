import Foundation

/// What the processor we run on can do, read once. Decides whether the AVX-512 GEMM may run.
public enum CPUFeatures {
    /// AVX-512 Foundation + DQ + BW + VL + CD (what `-target-cpu skylake-avx512` code may use), and
    /// an OS that saves the ZMM state (the kernel lists the flags only then). `FSSAM_NO_AVX512=1`
    /// turns the AVX-512 kernels off (to test or measure the AVX2/OpenBLAS path).
    public static let hasAVX512: Bool = {
        #if arch(x86_64) && os(Linux)
        if ProcessInfo.processInfo.environment["FSSAM_NO_AVX512"] == "1" { return false }
        guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flagsLine = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
        else { return false }
        let flags = Set(flagsLine.split(separator: " ").map(String.init))
        return ["avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512cd"].allSatisfy(flags.contains)
        #else
        return false
        #endif
    }()
}

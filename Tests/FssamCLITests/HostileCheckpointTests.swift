import FixtureSupport
import Foundation
import XCTest

/// Checkpoints that crashed or hung fssam: a pickle nested 100,000 deep (SIGSEGV) and a named pipe
/// (the open blocked forever). Every command that reads a checkpoint must refuse them in words.
final class HostileCheckpointTests: HostileInputTestCase {
    typealias P = TorchFileBuilder.P

    func testDeeplyNestedPickleIsRefusedByEveryCheckpointCommand() throws {
        let pickle = P.proto2 + [UInt8](repeating: P.emptyList[0], count: 100_000) + [UInt8](repeating: P.append[0], count: 99_999) + P.stop
        let checkpoint = path("deep.pt")
        try Data(TorchFileBuilder.checkpoint(pickle: pickle, storages: [:])).write(to: URL(fileURLWithPath: checkpoint))
        let words = [checkpoint, "nested deeper than 100 levels"]
        assertRefused(try fssam(["weights", "inspect", checkpoint]), saying: words, "weights inspect")
        assertRefused(try fssam(["weights", "convert", checkpoint, path("out.safetensors")]), saying: words, "weights convert")
        assertRefused(try fssam(episode + ["--checkpoint", checkpoint]), saying: words, "episode --checkpoint")
    }

    func testNamedPipeIsRefusedAsEveryCheckpointOption() throws {
        let pipe = try fifo("w.pt")
        let words = [pipe, "named pipe", "not a regular file"]
        assertRefused(try fssam(["weights", "inspect", pipe], timeout: 20), saying: words, "weights inspect")
        assertRefused(try fssam(["weights", "convert", pipe, path("out.safetensors")], timeout: 20), saying: words, "weights convert")
        assertRefused(try fssam(episode + ["--checkpoint", pipe], timeout: 20), saying: words, "episode --checkpoint")
        assertRefused(try fssam(episode + ["--sam2", pipe, "--dino", pipe], timeout: 20), saying: words, "episode --sam2 --dino")
    }

    func testNamedPipeIsRefusedAsSupportImageAndMask() throws {
        let pipe = try fifo("support-pipe.png")
        let asImage = ["episode", "--support", pipe, path("mask.png"), "--query", path("queries/query.png"), "--out", path("out.png"),
                       "--weights", "synthetic"]
        assertRefused(try fssam(asImage, timeout: 20), saying: [pipe, "support 1 image", "named pipe"], "support image")
        let asMask = ["episode", "--support", path("support.png"), pipe, "--query", path("queries/query.png"), "--out", path("out.png"),
                      "--weights", "synthetic"]
        assertRefused(try fssam(asMask, timeout: 20), saying: [pipe, "support 1 mask", "named pipe"], "support mask")
    }
}

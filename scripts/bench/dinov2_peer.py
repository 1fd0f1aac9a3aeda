"""PyTorch peer for the DINOv2 benchmark: timm vit_base_patch14_dinov2 at img_size, random
weights (pretrained=False), one image, forward_features under inference_mode.
Prints one line in the same format as the Swift DINOv2Benchmark."""
import argparse, resource, statistics, time

import timm
import torch

parser = argparse.ArgumentParser()
parser.add_argument("--threads", type=int, required=True)
parser.add_argument("--runs", type=int, default=3)
parser.add_argument("--size", type=int, default=560)
args = parser.parse_args()

torch.set_num_threads(args.threads)
start = time.perf_counter()
model = timm.create_model("vit_base_patch14_dinov2", pretrained=False, img_size=args.size).eval()
load = time.perf_counter() - start
x = torch.randn(1, 3, args.size, args.size, generator=torch.Generator().manual_seed(0))
times = []
with torch.inference_mode():
    for run in range(args.runs + 1):  # run 0 is the warm-up
        t0 = time.perf_counter()
        model.forward_features(x)
        if run > 0:
            times.append(time.perf_counter() - t0)
median = statistics.median(times)
n = (args.size // 14) ** 2 + 1
d, hidden, depth = 768, 3072, 12
flops = depth * (2 * n * d * 3 * d + 4 * n * n * d + 2 * n * d * d + 4 * n * d * hidden) + 2 * (n - 1) * d * 3 * 14 * 14
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"torch: vit_base_patch14_dinov2 {args.size}x{args.size} threads={args.threads} load={load:.2f}s "
      f"median={median:.3f}s (runs {'/'.join(f'{t:.3f}' for t in times)}) gemm={flops / 1e9:.1f} GFLOP "
      f"{flops / 1e9 / median:.1f} GFLOP/s peak_rss={rss:.0f} MB torch={torch.__version__} "
      f"cpu_capability={torch.backends.cpu.get_cpu_capability()}")

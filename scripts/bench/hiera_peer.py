"""PyTorch peer for the Hiera benchmark: timm sam2_hiera_small (random weights, pretrained=False),
trunk only (forward_features), one 512x512 image, under inference_mode. timm's HieraDet takes no
img_size argument (it interpolates its position embedding to the input), so none is passed.
Prints one line in the same format as the Swift HieraBenchmark."""
import argparse, resource, statistics, time

import timm
import torch

parser = argparse.ArgumentParser()
parser.add_argument("--threads", type=int, required=True)
parser.add_argument("--runs", type=int, default=3)
parser.add_argument("--size", type=int, default=512)
args = parser.parse_args()

torch.set_num_threads(args.threads)
start = time.perf_counter()
model = timm.create_model("sam2_hiera_small", pretrained=False, num_classes=0).eval()
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
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"torch: sam2_hiera_small trunk {args.size}x{args.size} threads={args.threads} load={load:.2f}s "
      f"median={median:.3f}s (runs {'/'.join(f'{t:.3f}' for t in times)}) peak_rss={rss:.0f} MB "
      f"torch={torch.__version__} timm={timm.__version__} cpu_capability={torch.backends.cpu.get_cpu_capability()}")

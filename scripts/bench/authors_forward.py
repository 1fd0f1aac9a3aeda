"""Times the authors' own PyTorch FSSAM 1-shot forward (Sam1224/FSSAM `model/FSSAM.py`) on CPU.

The authors' code is not part of this repository: it is imported from --fssam-dir (a checkout of
Sam1224/FSSAM, the fixtures used 9318e28) and DINOv2 from --dinov2-dir (a checkout of
facebookresearch/dinov2, the fixtures used b8931f7). Nothing in those directories is
edited; the CPU run patches of shared/fixtures/README.md ("CPU run patches") are applied in this
process only:
  - `Tensor.cuda()` is a no-op;
  - the SAM 2 builder is forced to device='cpu';
  - the DINOv2 torch.hub load uses the local checkout with pretrained=False;
  - the `maskmem_features.to(torch.bfloat16)` cast in `add_new_mask_batch` is dropped (a
    `.to(torch.bfloat16)` is turned into a no-op for the duration of that call only);
  - the missing `RoPEAttention.Weighted_GAP` is bound to FSSAM.py's own `Weighted_GAP`.
Model: num_refine=3, ver_refine='v1', sam2_config='sam2_hiera_s.yaml', ver_dino='dinov2_vitb14',
eval mode, no_grad, float32. Weights: --weights (the fssam-synth-v1 safetensors written by
`fssam weights convert synthetic`, keys `sam2.*` and `dino.*`) with load_state_dict(strict=True).

Inputs are the fixture's query/support (fssam-1shot.safetensors); the output is compared with the
fixture's `out.logits`. Each timed run is one complete `model(x, s_x, s_y, y_m)` call: DINOv2 on
query and support, prior maps, SAM 2 image encoder on query and support, three memories, IMR,
support-calibrated memory attention and the mask decoder.

Prints `key=value` lines prefixed `authors:` (parsed by episode_bench.sh).
"""
import argparse
import contextlib
import os
import resource
import statistics
import sys
import time
import types
import warnings

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--fssam-dir", required=True, help="checkout of Sam1224/FSSAM")
parser.add_argument("--dinov2-dir", required=True, help="checkout of facebookresearch/dinov2")
parser.add_argument("--weights", required=True, help="fssam-synth-v1 safetensors (sam2.* + dino.* keys)")
parser.add_argument("--fixtures", required=True, help="directory holding fssam-1shot.safetensors")
parser.add_argument("--threads", type=int, default=os.cpu_count())
parser.add_argument("--runs", type=int, default=3, help="timed forwards (after --warmup untimed ones)")
parser.add_argument("--warmup", type=int, default=0, help="untimed forwards before the timed ones")
args = parser.parse_args()

warnings.filterwarnings("ignore")  # autocast('cuda') without CUDA, sdp_kernel deprecation, xFormers
import numpy as np
import torch
import torch.nn.functional as F
from safetensors.numpy import load_file as load_numpy
from safetensors.torch import load_file as load_torch

torch.set_num_threads(args.threads)
fssam_dir = os.path.abspath(args.fssam_dir)
dinov2_dir = os.path.abspath(args.dinov2_dir)
for d, marker in ((fssam_dir, "model/FSSAM.py"), (dinov2_dir, "hubconf.py")):
    if not os.path.isfile(os.path.join(d, marker)):
        sys.exit(f"authors_forward: {d} has no {marker}")
sys.path.insert(0, fssam_dir)  # `model`, `sam2`, `sam2_configs` (hydra config module)

# Patch 1: .cuda() is a no-op (the released code calls it unconditionally).
torch.Tensor.cuda = lambda self, *a, **k: self
torch.nn.Module.cuda = lambda self, *a, **k: self

# Patch 3: DINOv2 from the local checkout, no download, no pretrained weights.
_hub_load = torch.hub.load
def _local_dinov2(repo_or_dir, model, *a, **k):
    assert repo_or_dir.endswith("dinov2"), repo_or_dir
    return _hub_load(dinov2_dir, model, source="local", pretrained=False, verbose=False)
torch.hub.load = _local_dinov2

import sam2.build_sam
import sam2.modeling.sam.transformer as sam2_transformer
import sam2.sam2_video_predictor as sam2_vp
import model.FSSAM as FSSAM

# Patch 2: SAM 2 builder on CPU (FSSAM.py imported the function by name).
_build = FSSAM.build_sam2_video_predictor
FSSAM.build_sam2_video_predictor = lambda *a, **k: _build(*a, **{**k, "device": "cpu"})

# Patch 4: drop the bf16 cast of maskmem_features in add_new_mask_batch (fp32 throughout).
_tensor_to = torch.Tensor.to
def _to_without_bf16(self, *a, **k):
    if (a and a[0] is torch.bfloat16) or k.get("dtype") is torch.bfloat16:
        return self
    return _tensor_to(self, *a, **k)
_add_new_mask_batch = sam2_vp.SAM2VideoPredictor.add_new_mask_batch
def _add_new_mask_batch_fp32(self, *a, **k):
    torch.Tensor.to = _to_without_bf16
    try:
        return _add_new_mask_batch(self, *a, **k)
    finally:
        torch.Tensor.to = _tensor_to
sam2_vp.SAM2VideoPredictor.add_new_mask_batch = _add_new_mask_batch_fp32

# Patch 5: RoPEAttention.Weighted_GAP is called but defined nowhere (upstream issue #3).
assert not hasattr(sam2_transformer.RoPEAttention, "Weighted_GAP")
sam2_transformer.RoPEAttention.Weighted_GAP = staticmethod(FSSAM.Weighted_GAP)

# Build the 1-shot model as test.py does (`OneModel(args)`), fields from config/*/fssam_*.yaml.
margs = types.SimpleNamespace(
    zoom_factor=8, shot=1, data_set="pascal", print_freq=10,
    sam2_weight=None, sam2_config="sam2_hiera_s.yaml", ver_dino="dinov2_vitb14",
    num_refine=3, ver_refine="v1",
)
t0 = time.perf_counter()
net = FSSAM.OneModel(margs)
build_s = time.perf_counter() - t0

t0 = time.perf_counter()
sd = load_torch(args.weights)
parts = {"sam2": {}, "dino": {}}
for k, v in sd.items():
    prefix, _, rest = k.partition(".")
    if prefix not in parts:
        sys.exit(f"authors_forward: unexpected key {k} in {args.weights}")
    parts[prefix][rest] = v
net.sam2.load_state_dict(parts["sam2"], strict=True)
net.dino.load_state_dict(parts["dino"], strict=True)
del sd, parts
net = net.float().eval()
load_s = time.perf_counter() - t0

fx = load_numpy(os.path.join(args.fixtures, "fssam-1shot.safetensors"))
x = torch.from_numpy(fx["in.qry_img"].transpose(2, 0, 1)[None].astype(np.float32))
s_x = torch.from_numpy(fx["in.sup0_img"].transpose(2, 0, 1)[None, None].astype(np.float32))
s_y = torch.from_numpy(fx["in.sup0_label"][None, None].astype(np.int64))
y_m = torch.zeros(1, 512, 512)  # only used by the training loss
ref = fx["out.logits"].astype(np.float32)

# Stage split: wall time spent inside the main calls of one forward (wrappers, not edits).
stage_s = {}
def _timed(obj, name, label):
    fn = getattr(obj, name)
    def wrapper(*a, **k):
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            stage_s[label] = stage_s.get(label, 0.0) + time.perf_counter() - t
    setattr(obj, name, wrapper)
_timed(net.dino, "get_intermediate_layers", "dinov2")
_timed(net.sam2, "get_image_feature_batch", "sam2_image_encoder")
_timed(net.sam2, "add_new_mask_batch", "memories")
_timed(net, "mem_refine", "imr")
_timed(net.sam2, "propagate_in_video_batch_final", "memattn_decoder")

times, splits, out = [], [], None
with torch.no_grad():
    for run in range(args.warmup + args.runs):
        stage_s.clear()
        t = time.perf_counter()
        out, _ = net(x, s_x, s_y, y_m)
        dt = time.perf_counter() - t
        if run >= args.warmup:
            times.append(dt)
            splits.append(dict(stage_s, other=dt - sum(stage_s.values())))

got = out.detach().float().numpy().reshape(ref.shape)
diff = float(np.abs(got - ref).max())
median = statistics.median(times)
best = min(range(len(times)), key=lambda i: abs(times[i] - median))
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"authors: threads={args.threads} torch={torch.__version__} "
      f"cpu_capability={torch.backends.cpu.get_cpu_capability()} build={build_s:.2f}s load_weights={load_s:.2f}s")
print(f"authors: median={median:.3f}s runs={'/'.join(f'{t:.3f}' for t in times)} warmup={args.warmup}")
print("authors: split " + " ".join(f"{k}={v:.3f}s" for k, v in splits[best].items()))
print(f"authors: peak_rss={rss_mb:.0f} MB")
print(f"authors: max_abs_diff_vs_out.logits={diff:.3e} (max |ref|={float(np.abs(ref).max()):.3e}) shape={tuple(out.shape)}")
if not np.isfinite(diff) or diff > 1e-3:
    print("authors: WARNING output differs from the fixture: a CPU patch or the weights are wrong")

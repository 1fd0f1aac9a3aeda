#!/usr/bin/env bash
# SAM 2 Hiera-S trunk at 512×512, one image: Swift (fssam HieraBenchmark, fssam-synth-v1 weights)
# against PyTorch (timm sam2_hiera_small, pretrained=False, forward_features) on the same machine
# with the same thread count. Runs the two alternately ROUNDS times (3 timed runs + 1 warm-up
# each, median per process) and reports the best median of each, which damps the noise of a
# shared machine. The Swift side also times the full encoder (trunk + FPN neck + conv_s0/s1 + PE).
#
# Usage: scripts/bench/hiera_bench.sh [threads (default: all cores)] [rounds (default 2)]
# Env: VENV (see scripts/bench/peer-env.sh): the PyTorch peer, created if missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
THREADS="${1:-$(nproc)}"
ROUNDS="${2:-2}"
source scripts/bench/peer-env.sh

build_swift_product HieraBenchmark

median_of() { # best median among lines on stdin matching $1
    grep "^[a-z]*: .*$1" | sed -n 's/.*median=\([0-9.]*\)s.*/\1/p' | sort -g | head -1
}
swift_lines=""; torch_lines=""
for round in $(seq "$ROUNDS"); do
    s=$("$SWIFT_BIN" --threads "$THREADS" --runs 3); echo "$s"; swift_lines+="$s"$'\n'
    t=$("$PYTHON" scripts/bench/hiera_peer.py --threads "$THREADS" --runs 3); echo "$t"; torch_lines+="$t"$'\n'
done
swift_s=$(printf '%s' "$swift_lines" | median_of " trunk ")
swift_enc=$(printf '%s' "$swift_lines" | median_of " encoder ")
torch_s=$(printf '%s' "$torch_lines" | median_of " trunk ")
swift_gflop=$(printf '%s' "$swift_lines" | grep -m1 '^swift: .* trunk ' | sed -n 's/.*gemm=\([0-9.]*\) GFLOP.*/\1/p')
torch_gflop=$(printf '%s' "$swift_lines" | grep -m1 '^info' | sed -n 's/.*, \([0-9.]*\) GFLOP as PyTorch.*/\1/p')
swift_rss=$(printf '%s' "$swift_lines" | sed -n 's/.*peak_rss=\([0-9]*\) MB.*/\1/p' | sort -g | tail -1)
torch_rss=$(printf '%s' "$torch_lines" | sed -n 's/.*peak_rss=\([0-9]*\) MB.*/\1/p' | sort -g | tail -1)
echo "summary: threads=$THREADS cpu=\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)\" load=\"$(cut -d' ' -f1-3 /proc/loadavg)\""
awk -v s="$swift_s" -v e="$swift_enc" -v t="$torch_s" -v gs="$swift_gflop" -v gt="$torch_gflop" -v sr="$swift_rss" -v tr="$torch_rss" 'BEGIN {
    printf "summary: trunk swift %.3f s (%.1f GFLOP/s on %.1f GFLOP, peak RSS %d MB; full encoder %.3f s) | pytorch %.3f s (%.1f GFLOP/s on %.1f GFLOP, peak RSS %d MB) | ratio swift/pytorch %.3f (target <= 0.9)\n", s, gs / s, gs, sr, e, t, gt / t, gt, tr, (t > 0 ? s / t : 0)
}'

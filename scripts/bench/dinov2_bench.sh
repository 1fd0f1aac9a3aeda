#!/usr/bin/env bash
# DINOv2-B/14 at 560×560, one image: Swift (fssam DINOv2Benchmark) against PyTorch (timm
# vit_base_patch14_dinov2, pretrained=False) on the same machine with the same thread count.
# Runs the two alternately ROUNDS times (1 warm-up + 3 timed runs each, median per process) and
# reports the best median of each and the fastest single run of each (on a shared machine
# the fastest run is the one least disturbed by other processes).
#
# Usage: scripts/bench/dinov2_bench.sh [threads (default: all cores)] [rounds (default 2)]
# OPENBLAS_CORETYPE is left as the environment sets it.
set -euo pipefail
cd "$(dirname "$0")/../.."
THREADS="${1:-$(nproc)}"
ROUNDS="${2:-2}"
source scripts/bench/peer-env.sh

build_swift_product DINOv2Benchmark

best() { sed -n 's/.*median=\([0-9.]*\)s.*/\1/p' | sort -g | head -1; }
fastest() { sed -n 's/.*(runs \([0-9./]*\)).*/\1/p' | tr '/' '\n' | sort -g | head -1; }
rss() { sed -n 's/.*peak_rss=\([0-9]*\) MB.*/\1/p' | sort -g | tail -1; }
swift_lines=""; torch_lines=""
for round in $(seq "$ROUNDS"); do
    s=$("$SWIFT_BIN" --threads "$THREADS" --runs 3); echo "$s"; swift_lines+="$s"$'\n'
    t=$("$PYTHON" scripts/bench/dinov2_peer.py --threads "$THREADS" --runs 3); echo "$t"; torch_lines+="$t"$'\n'
done
# The AVX2/OpenBLAS path that CPUs without AVX-512 take, for reference (not in the ratio).
if grep -qw avx512f /proc/cpuinfo; then
    echo "swift without AVX-512 (FSSAM_NO_AVX512=1): $(FSSAM_NO_AVX512=1 "$SWIFT_BIN" --threads "$THREADS" --runs 3)"
fi
swift_s=$(printf '%s' "$swift_lines" | best); torch_s=$(printf '%s' "$torch_lines" | best)
swift_min=$(printf '%s' "$swift_lines" | fastest); torch_min=$(printf '%s' "$torch_lines" | fastest)
swift_rss=$(printf '%s' "$swift_lines" | rss); torch_rss=$(printf '%s' "$torch_lines" | rss)
echo "summary: threads=$THREADS cpu=\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)\" OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset} loadavg=\"$(cut -d' ' -f1-3 /proc/loadavg)\""
awk -v s="$swift_s" -v t="$torch_s" -v sr="$swift_rss" -v tr="$torch_rss" -v sm="$swift_min" -v tm="$torch_min" 'BEGIN {
    g = 367.9   # GEMM GFLOP of ViT-B/14 at 560 (both programs print it)
    printf "summary (best median): swift %.3f s (%.1f GFLOP/s, peak RSS %d MB) | pytorch %.3f s (%.1f GFLOP/s, peak RSS %d MB) | ratio swift/pytorch %.3f (target <= 0.9)\n", s, g / s, sr, t, g / t, tr, s / t
    printf "summary (fastest single run, least disturbed by other load): swift %.3f s | pytorch %.3f s | ratio %.3f\n", sm, tm, sm / tm
}'

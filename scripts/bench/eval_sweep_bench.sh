#!/usr/bin/env bash
# `fssam eval` sweep cost: one evaluation against a 4-value IMR sweep over the same episodes, on
# this machine, in this run (target: sweep <= 1.3x single).
#
# Dataset: a generated PASCAL-layout set (QUERIES images of 96x64 with classes 1..3 of fold 0,
# labels with a 255 boundary); lists are built by `fssam eval` itself. Weights: fssam-synth-v1
# (`--weights synthetic`), which has the real architecture, so stage costs are real.
# Both runs start from an empty cache (each its own), so every stage is computed cold:
#   single: fssam eval ... --episodes N
#   sweep:  fssam eval ... --episodes N --sweep imr.iterations=1,2,3,4
# Compared: the "model time" each prints (episodes only; synthetic-weight generation excluded)
# and the whole process wall time. ROUNDS alternating rounds; medians reported.
#
# Usage: scripts/bench/eval_sweep_bench.sh [episodes (default 6)] [rounds (default 1)] [threads (default: all)]
# Env: FSSAM_BIN  use this binary instead of building .build/release/fssam
set -euo pipefail
cd "$(dirname "$0")/../.."
EPISODES="${1:-6}"
ROUNDS="${2:-1}"
THREADS="${3:-$(nproc)}"
if [ -z "${FSSAM_BIN:-}" ]; then
    swift build -c release --product fssam >&2
    FSSAM_BIN=.build/release/fssam
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

python3 - "$WORK/data" <<'PY'
import os, struct, sys, zlib
root = sys.argv[1] + "/VOCdevkit2012/VOC2012"
os.makedirs(root + "/JPEGImages"); os.makedirs(root + "/SegmentationClassAug")
W, H = 96, 64
def png(path, w, h, channels, rows):
    kind = {1: 0, 3: 2}[channels]
    raw = b"".join(b"\0" + bytes(r) for r in rows)
    def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, kind, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
for i in range(8):
    cls = 1 + i % 3
    top = 4 + 3 * i
    label = [[(cls if top <= y < top + 40 and 4 + i <= x < 92 - i else 0) for x in range(W)] for y in range(H)]
    for x in range(W): label[min(H - 1, top + 41)][x] = 255
    image = [[v for x in range(W) for v in ((200, 180 - 10 * cls, 40 * cls) if label[y][x] == cls
                                           else ((x * 3 + y * 5 + 17 * i) % 150, (x + 40) % 150, (y * 2 + 30 * i) % 150))]
             for y in range(H)]
    png(f"{root}/JPEGImages/b{i}.jpg", W, H, 3, image)   # PNG bytes: lossless, decoded by content
    png(f"{root}/SegmentationClassAug/b{i}.png", W, H, 1, label)
PY

run() { # name, extra args...
    local name="$1"; shift
    local start end out
    start=$(date +%s.%N)
    out=$("$FSSAM_BIN" eval --dataset pascal --root "$WORK/data" --lists "$WORK/lists" --fold 0 --episodes "$EPISODES" \
          --seed 321 --weights synthetic --threads "$THREADS" --cache "$WORK/cache-$name-$round" "$@")
    end=$(date +%s.%N)
    echo "$out" > "$WORK/$name-$round.txt"
    model=$(echo "$out" | sed -n 's/^model time \([0-9.]*\) s$/\1/p')
    wall=$(echo "$end - $start" | bc -l)
    echo "$model $wall"
}
singles=(); sweeps=(); walls1=(); walls4=()
for round in $(seq 1 "$ROUNDS"); do
    read -r m w < <(run single); singles+=("$m"); walls1+=("$w")
    read -r m w < <(run sweep --sweep imr.iterations=1,2,3,4); sweeps+=("$m"); walls4+=("$w")
    echo "round $round: single model ${singles[-1]} s (wall ${walls1[-1]}), sweep model ${sweeps[-1]} s (wall ${walls4[-1]})" >&2
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
S=$(median "${singles[@]}"); P=$(median "${sweeps[@]}"); WS=$(median "${walls1[@]}"); WP=$(median "${walls4[@]}")
echo "episodes $EPISODES, threads $THREADS, rounds $ROUNDS"
echo "single evaluation: model ${S} s, process wall ${WS} s"
echo "4-value IMR sweep: model ${P} s, process wall ${WP} s"
printf 'sweep / single: model %.3fx, wall %.3fx (target <= 1.3x)\n' "$(echo "$P / $S" | bc -l)" "$(echo "$WP / $WS" | bc -l)"
echo "--- sweep report (last round) ---"
cat "$WORK/sweep-$ROUNDS.txt"

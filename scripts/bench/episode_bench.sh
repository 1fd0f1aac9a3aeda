#!/usr/bin/env bash
# Whole 1-shot episode: our `fssam episode` (Swift, release) against the authors' own PyTorch
# forward (Sam1224/FSSAM model/FSSAM.py, run by scripts/bench/authors_forward.py with the CPU
# patches of shared/fixtures/README.md) on this machine, same thread count, same inputs (the
# fssam-1shot fixture's query and support) and the same weights (fssam-synth-v1).
#
# The two are run alternately ROUNDS times:
#   ours:    one `fssam episode ... --weights synthetic --timings` process per round, i.e. a cold
#            episode, under /usr/bin/time -v (peak RSS). "model" time = total - decode -
#            load_weights - write (image decoding, weight generation and PNG writing excluded).
#   authors: one Python process per round that builds OneModel, loads the weights strictly and
#            times AUTHORS_RUNS full forward calls (both encoders for query and support, memories,
#            IMR, memory attention, decoder); model build and weight loading are not timed.
# Reported: median over rounds of our model time (and wall total), median over all the authors'
# forwards, their ratio (target <= 0.85), our stage breakdown from the median round, both peak
# RSS values (target ours <= 1.0 GB) and both outputs' agreement with the fixture's out.logits.
#
# Usage: scripts/bench/episode_bench.sh [threads (default: all cores)] [rounds (default 3)]
# Env:
#   FSSAM_AUTHORS_DIR  checkout of Sam1224/FSSAM (fixtures used commit 9318e28)  [required]
#   DINOV2_DIR         checkout of facebookresearch/dinov2 (fixtures used b8931f7) [required]
#   VENV               Python venv with torch 2.5.1 (default .venv-bench, created by
#                      scripts/bench/peer-env.sh if missing); the authors' extra deps (hydra-core,
#                      omegaconf, einops, matplotlib, iopath, safetensors, pillow) are pip-installed
#                      into it if missing.
#   AUTHORS_RUNS       timed forwards per authors' process (default 2)
#   FSSAM_BIN          use this fssam binary instead of building .build/release/fssam
#   FIXTURES           fixture directory (default shared/fixtures, else /work/shared/fixtures)
set -euo pipefail
cd "$(dirname "$0")/../.."
THREADS="${1:-$(nproc)}"
ROUNDS="${2:-3}"
AUTHORS_RUNS="${AUTHORS_RUNS:-2}"

if [ -z "${FSSAM_AUTHORS_DIR:-}" ] || [ -z "${DINOV2_DIR:-}" ] \
   || [ ! -f "${FSSAM_AUTHORS_DIR}/model/FSSAM.py" ] || [ ! -f "${DINOV2_DIR}/hubconf.py" ]; then
    cat >&2 <<'EOF'
episode_bench: set FSSAM_AUTHORS_DIR and DINOV2_DIR to your checkouts of the authors' repositories
Sam1224/FSSAM (the fixtures used commit 9318e28) and facebookresearch/dinov2 (b8931f7), e.g.
    FSSAM_AUTHORS_DIR=/tmp/peer/FSSAM DINOV2_DIR=/tmp/peer/dinov2 scripts/bench/episode_bench.sh
The authors' code is run from there as it is (patched in memory for CPU); it is never copied here.
EOF
    exit 2
fi
FIXTURES="${FIXTURES:-$( [ -d shared/fixtures ] && echo shared/fixtures || echo /work/shared/fixtures)}"
[ -f "$FIXTURES/fssam-1shot.safetensors" ] || { echo "episode_bench: no $FIXTURES/fssam-1shot.safetensors" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "episode_bench: /usr/bin/time (GNU time) is needed for peak RSS" >&2; exit 2; }

source scripts/bench/peer-env.sh
if ! "$PYTHON" -c "import hydra, omegaconf, einops, matplotlib, iopath, safetensors, PIL" 2>/dev/null; then
    "$VENV/bin/pip" install -q hydra-core omegaconf einops matplotlib iopath safetensors pillow
fi

if [ -n "${FSSAM_BIN:-}" ]; then
    BIN="$FSSAM_BIN"
else
    build_swift_product fssam
    BIN="$SWIFT_BIN"
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
# Fixture inputs as PNGs (label keeps its 0/1/255 values; --ignore-value 255).
"$PYTHON" - "$FIXTURES/fssam-1shot.safetensors" "$WORK" <<'EOF'
import sys
from PIL import Image
from safetensors.numpy import load_file
fx = load_file(sys.argv[1])
Image.fromarray(fx["in.qry_img"]).save(f"{sys.argv[2]}/qry.png")
Image.fromarray(fx["in.sup0_img"]).save(f"{sys.argv[2]}/sup0.png")
Image.fromarray(fx["in.sup0_label"]).save(f"{sys.argv[2]}/sup0_label.png")
EOF
"$BIN" weights convert synthetic "$WORK/synth.safetensors" --force >/dev/null

echo "episode_bench: threads=$THREADS rounds=$ROUNDS authors_runs_per_round=$AUTHORS_RUNS bin=$BIN"
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "episode_bench: cpu=\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)\" nproc=$(nproc) load_at_start=\"$load_start\""
ours_model=(); ours_total=(); ours_rss=(); ours_logs=(); authors_log=""
for round in $(seq "$ROUNDS"); do
    /usr/bin/time -v -o "$WORK/time.txt" "$BIN" episode --support "$WORK/sup0.png" "$WORK/sup0_label.png" \
        --query "$WORK/qry.png" --out "$WORK/out.png" --weights synthetic --ignore-value 255 \
        --threads "$THREADS" --timings > "$WORK/ours.txt"
    read -r model total < <(awk '$2 ~ /^[0-9.]+$/ && $3 == "s" { t[$1] = $2 }
        END { printf "%.3f %.3f\n", t["total"] - t["decode"] - t["load_weights"] - t["write"], t["total"] }' "$WORK/ours.txt")
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): \([0-9]*\).*/\1/p' "$WORK/time.txt")
    ours_model+=("$model"); ours_total+=("$total"); ours_rss+=("$rss"); ours_logs+=("$(cat "$WORK/ours.txt")")
    echo "round $round ours:    model=${model}s total=${total}s peak_rss=$((rss / 1024)) MB"
    a=$("$PYTHON" scripts/bench/authors_forward.py --fssam-dir "$FSSAM_AUTHORS_DIR" --dinov2-dir "$DINOV2_DIR" \
        --weights "$WORK/synth.safetensors" --fixtures "$FIXTURES" --threads "$THREADS" --runs "$AUTHORS_RUNS")
    authors_log+="$a"$'\n'
    echo "round $round authors: $(printf '%s\n' "$a" | sed -n 's/^authors: \(median=.*\)/\1/p'), $(printf '%s\n' "$a" | sed -n 's/^authors: \(peak_rss=.*\)/\1/p')"
done
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
our_model=$(median "${ours_model[@]}")
our_total=$(median "${ours_total[@]}")
our_rss_kb=$(printf '%s\n' "${ours_rss[@]}" | sort -g | tail -1)
authors_runs=$(printf '%s' "$authors_log" | sed -n 's/^authors: median=[0-9.]*s runs=\([0-9./]*\).*/\1/p' | tr '/' '\n')
authors_med=$(median $authors_runs)
authors_rss=$(printf '%s' "$authors_log" | sed -n 's/^authors: peak_rss=\([0-9]*\) MB/\1/p' | sort -g | tail -1)
authors_diff=$(printf '%s' "$authors_log" | sed -n 's/^authors: max_abs_diff_vs_out.logits=\([^ ]*\).*/\1/p' | sort -g | tail -1)
# Our stage breakdown from the round whose model time is closest to the median.
best=0
for i in "${!ours_model[@]}"; do
    if awk -v a="${ours_model[$i]}" -v b="${ours_model[$best]}" -v m="$our_model" 'BEGIN { exit !((a - m)^2 < (b - m)^2) }'; then best=$i; fi
done
# Our mask (last round) against the fixture's reference logits > 0.
agree=$("$PYTHON" - "$FIXTURES/fssam-1shot.safetensors" "$WORK/out.png" <<'EOF'
import sys
import numpy as np
from PIL import Image
from safetensors.numpy import load_file
ref = load_file(sys.argv[1])["out.logits"][0] > 0
ours = np.asarray(Image.open(sys.argv[2])) > 127
print(f"{(ours == ref).mean() * 100:.4f}% of pixels ({int((ours != ref).sum())} differ)")
EOF
)

echo
echo "=== FSSAM 1-shot episode, 512x512, fssam-synth-v1 weights, threads=$THREADS, rounds=$ROUNDS ==="
echo "load average (1/5/15 min): start \"$load_start\", end \"$load_end\" (nproc $(nproc))"
printf '%s\n' "${ours_logs[$best]}" | awk '$2 ~ /^[0-9.]+$/ && $3 == "s" {
    note = ($1 == "decode" || $1 == "load_weights" || $1 == "write") ? "   (not model time)" : ($1 == "total" ? "   (wall total of the command)" : "")
    printf "  ours stage %-14s %8.3f s%s\n", $1, $2, note }'
printf '%s' "$authors_log" | sed -n 's/^authors: split /  authors stage split (one forward): /p' | tail -1
echo "ours cold episode, model stages (total - decode - load_weights - write), median of $ROUNDS: ${our_model} s"
echo "ours cold episode, wall total (incl. PNG decode, synthetic weight generation, PNG write), median: ${our_total} s"
echo "authors' forward (OneModel.forward, 1-shot), median of $((ROUNDS * AUTHORS_RUNS)) forwards: ${authors_med} s"
awk -v o="$our_model" -v t="$our_total" -v a="$authors_med" 'BEGIN {
    printf "RATIO ours/authors (model stages): %.3f   (target <= 0.85: %s)\n", o / a, (o / a <= 0.85 ? "MET" : "NOT MET")
    printf "ratio ours/authors (our wall total): %.3f\n", t / a }'
awk -v r="$our_rss_kb" -v a="$authors_rss" 'BEGIN {
    printf "peak RSS: ours %.0f MB (%.3f GB; target <= 1.0 GB: %s) | authors %d MB (whole Python process: model + weights + forward)\n",
        r / 1024, r / 1024 / 1024, (r / 1024 / 1024 <= 1.0 ? "MET" : "NOT MET"), a }'
echo "authors' logits vs fixture out.logits: max abs diff ${authors_diff} (tiny = the CPU patches reproduce the fixture run)"
echo "our mask vs fixture out.logits > 0: ${agree}"

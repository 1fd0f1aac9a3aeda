#!/usr/bin/env bash
# fssam on a real Slurm: a single-node cluster on 127.0.0.1 (Debian's slurm-wlm + munge, no
# systemd, no cgroups), an array of 4 shards over a synthetic dataset, then status and merge,
# checked byte-identical to a single-process run; then one shard killed mid-way with scancel,
# resubmitted, and the merge checked identical again. Stops every daemon it started.
#
#   FSSAM_BIN=.build/release/fssam bash scripts/cluster/slurm_test.sh
#
# Needs root (apt, daemons). Installs slurm-wlm and munge when missing (idempotent). The daemons
# use a private config, key, state and ports (FSSAM_SLURM_PORT, default 16817/16818), so a real
# Slurm on the machine is left alone.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
bin=$(realpath "${FSSAM_BIN:-.build/release/fssam}")
[ -x "$bin" ] || { echo "slurm_test: no fssam binary at $bin (build first or set FSSAM_BIN)" >&2; exit 1; }
port=${FSSAM_SLURM_PORT:-16817}
images=${FSSAM_SLURM_IMAGES:-8}
shards=4
started=$(date +%s)
say() { echo "slurm_test [$(( $(date +%s) - started ))s]: $*"; }
fail() { echo "slurm_test: FAILED: $*" >&2; exit 1; }

missing=()
for p in slurm-wlm munge; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

work=$(mktemp -d /tmp/fssam-slurm-XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

# munge: a private key and socket.
dd if=/dev/urandom of="$work/munge.key" bs=1024 count=1 status=none
chmod 400 "$work/munge.key"
mkdir -p "$work/munge"
chmod 700 "$work/munge"
munged --force --foreground --key-file="$work/munge.key" --socket="$work/munge/socket" \
    --pid-file="$work/munge/munged.pid" --seed-file="$work/munge/seed" --log-file="$work/munge/log" >/dev/null 2>&1 &
pids+=($!)

mkdir -p "$work/state" "$work/spool"
export SLURM_CONF="$work/slurm.conf"
cat > "$SLURM_CONF" <<CONF
ClusterName=fssamtest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$work/munge/socket
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
NodeName=fssamnode NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=1024 State=UNKNOWN
PartitionName=test Nodes=fssamnode Default=YES MaxTime=INFINITE State=UP
CONF
for i in $(seq 50); do [ -S "$work/munge/socket" ] && break; sleep 0.1; done
slurmctld -D -i -f "$SLURM_CONF" >"$work/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -N fssamnode -f "$SLURM_CONF" >"$work/slurmd.out" 2>&1 &
pids+=($!)
for i in $(seq 100); do
    sinfo -h -o %t 2>/dev/null | grep -qx idle && break
    sleep 0.3
done
sinfo -h -o %t | grep -qx idle || { tail -20 "$work"/slurm*.log; fail "the node did not come up idle"; }
say "slurm up: $(sinfo -h -o '%P %D %t %C')"

data="$work/data"
python3 scripts/cluster/make_synthetic_dataset.py "$data" "$images"
support=(--support "$data/support.png" "$data/support-mask.png" --weights synthetic)

say "single-process reference run"
"$bin" run "${support[@]}" --queries "$data/queries" --out "$work/single" --cache "$work/single-cache" --threads 1 >/dev/null || [ $? -eq 2 ]

say "prepare the supports once, copy the cache for distribution"
"$bin" prepare "${support[@]}" --cache "$work/prepared" --threads 1 >/dev/null
"$bin" cache copy --cache "$work/prepared" "$work/distributed" >/dev/null

submit() {  # submit OUT ARRAY: the template, as a user would
    sbatch --parsable --array="$2" --cpus-per-task=1 --mem=400M --output="$work/log-%A_%a.txt" \
        --export=ALL,FSSAM_SHARDS=$shards,FSSAM_PREPARED="$work/distributed",FSSAM_BIN="$bin",FSSAM_CACHE_ROOT="$work/node-local",FSSAM_RUN_NAME="$(basename "$1")" \
        scripts/cluster/fssam-array.sbatch "${support[@]}" --queries "$data/queries" --out "$1"
}
wait_job() { while squeue -h -j "$1" 2>/dev/null | grep -q .; do sleep 0.5; done; }
compare() {  # compare OUT: the merged result equals the single-process run
    local out=$1
    # .fssam.lock (the holder's PID) and .fssam-run.json (the folder's owner) are bookkeeping, not results.
    diff <(cd "$work/single" && find . -path ./shards -prune -o -type f ! -name '.fssam*' -print | sort) \
         <(cd "$out" && find . -path ./shards -prune -o -type f ! -name '.fssam*' -print | sort) || fail "$out: different files than the single run"
    for f in $(cd "$work/single" && find . -type f ! -name results.jsonl ! -name run.json ! -name '.fssam*' | sort); do
        cmp "$work/single/$f" "$out/$f" || fail "$out/$f differs from the single-process run"
    done
    # run.json counts items with a mask, however the work was split between runs: identical even after a resume.
    cmp "$work/single/run.json" "$out/run.json" || fail "$out/run.json differs from the single-process run"
    diff <(sed -E 's/"seconds":[0-9.e-]+//' "$work/single/results.jsonl") <(sed -E 's/"seconds":[0-9.e-]+//' "$out/results.jsonl") \
        || fail "$out/results.jsonl differs (beyond the per-item seconds)"
}

say "array of $shards shards"
job=$(submit "$work/out" "0-$((shards - 1))")
wait_job "$job"
"$bin" status --out "$work/out" || { cat "$work"/log-*.txt; fail "status after the array: not complete"; }
"$bin" merge --out "$work/out"
compare "$work/out"
grep -h "support\.\(dino_features\|sam2_features\|memory_encode\) *[1-9]" "$work"/log-"$job"_*.txt \
    && fail "a shard encoded supports although the prepared cache was copied" || true
say "merged array output is identical to the single-process run"

# Kill the shard with the most items once its first mask is written, resubmit it.
victim=$(python3 - "$data/queries" "$shards" <<'PY'
import hashlib, os, sys
root, n = sys.argv[1], int(sys.argv[2])
counts = [0] * n
for d, _, files in os.walk(root):
    for f in files:
        if f.endswith(".png"):
            rid = os.path.relpath(os.path.join(d, f), root)
            counts[int.from_bytes(hashlib.sha256(rid.encode()).digest()[:8], "big") % n] += 1
print(max(range(n), key=lambda i: counts[i]))
PY
)
say "second array; shard $victim will be cancelled mid-way"
job=$(submit "$work/out2" "0-$((shards - 1))")
part="$work/out2/shards/$victim-of-$shards"
for i in $(seq 1200); do
    [ -n "$(find "$part/masks" -type f 2>/dev/null | head -1)" ] && break
    sleep 0.1
done
# The done-record is committed within the cache's batch window (100 ms) after the mask: let it land,
# so the resubmission has something to skip; the next items take seconds each.
sleep 0.5
scancel "${job}_${victim}"
[ ! -e "$part/run.json" ] || fail "shard $victim finished before it could be cancelled (make the dataset larger)"
wait_job "$job"
set +e; "$bin" status --out "$work/out2"; rc=$?; set -e
[ $rc -eq 2 ] || fail "status should report shard $victim missing (exit 2), got $rc"
resubmit=$( ("$bin" status --out "$work/out2" --json || true) | python3 -c 'import json,sys; print(json.load(sys.stdin)["resubmit"])')
[ "$resubmit" = "$victim" ] || fail "status says resubmit '$resubmit', expected '$victim'"
"$bin" merge --out "$work/out2" 2>/dev/null && fail "merge accepted an incomplete set"
say "resubmitting --array=$resubmit"
job=$(submit "$work/out2" "$resubmit")
wait_job "$job"
grep -h "skipped as done" "$work"/log-"$job"_*.txt || true
grep -q " 0 skipped as done" "$work"/log-"$job"_*.txt && fail "the resubmitted shard skipped nothing: the cancel came before any commit?"
"$bin" status --out "$work/out2" >/dev/null || fail "status after the resubmission: not complete"
"$bin" merge --out "$work/out2"
compare "$work/out2" resumed
say "PASSED: killed shard resubmitted, merged output identical to the single-process run ($(( $(date +%s) - started )) s)"

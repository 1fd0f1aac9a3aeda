#!/usr/bin/env python3
"""Crash safety of `fssam run` and `fssam merge`, measured: SIGKILL at random moments, then resume.

  python3 scripts/crash/kill_resume.py [--kills 30] [--items 8] [--seed 1] [--bin .build/release/fssam]

Runs:
  1. A reference: one uninterrupted run of ITEMS queries (the demo's synthetic dataset) into ref/.
  2. Chains of kills: a fresh --out and cache; `fssam run` started and killed with SIGKILL after a
     random delay (0 .. the reference's wall time), again and again on the same folder (each restart
     is a resume), then one run to the end. Every kill counts; KILLS kills in all.
     After each chain's final run:
       - every file of --out equals ref/ byte for byte (results.jsonl: aside from the per-item
         `seconds` and `cache_hits`, which record what each run did),
       - no temporary file is left in --out,
       - zero done items recomputed: for every kill, the items the next run computed
         (decode_mask computed) plus the items it found done equal ITEMS, and the done items it
         found equal the done-records the cache held (mdb_stat),
       - `fssam cache verify` is clean.
  3. Merge: a 2-shard run of the same items, then `fssam merge` killed at random moments (with
     20,000 synthetic result lines so a merge lasts long enough to be hit), then merged to the end:
     the merged folder equals an uninterrupted merge's, with no temporary file left.
Prints one line per check and a summary; exits 1 on any failure.
"""
import argparse, hashlib, json, os, random, shutil, signal, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("--kills", type=int, default=30)
ap.add_argument("--items", type=int, default=8)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--bin", default=".build/release/fssam")
ap.add_argument("--merge-kills", type=int, default=10)
args = ap.parse_args()
fssam = os.path.realpath(args.bin)
rng = random.Random(args.seed)
work = tempfile.mkdtemp(prefix="fssam-crash-")
failures = []

class Failures(list):
    """Printed as they happen (a later crash of the script must not hide them), listed again at the end."""
    def append(self, message):
        print("FAIL", message, flush=True)
        super().append(message)

failures = Failures()

def run(argv, timeout=600, check=True):
    p = subprocess.run([fssam] + argv, capture_output=True, text=True, timeout=timeout)
    if p.returncode < 0 or p.returncode >= 128:
        failures.append(f"fssam {argv[0]} ended by signal / status {p.returncode}: {p.stderr[-500:]}")
    if check and p.returncode != 0:
        raise SystemExit(f"fssam {' '.join(argv)} -> {p.returncode}\n{p.stderr}")
    return p

def files(folder):
    out = {}
    for root, _, names in os.walk(folder):
        for n in names:
            full = os.path.join(root, n)
            out[os.path.relpath(full, folder)] = full
    return out

def is_temporary(rel):
    name = os.path.basename(rel)
    return name.startswith(".fssam-tmp-") or ".tmp-" in name or name.startswith(".fssam-spill-") or name.startswith(".merge-")

def normalised_results(path):
    lines = []
    for line in open(path, "rb").read().splitlines():
        o = json.loads(line)
        o.pop("seconds", None); o.pop("cache_hits", None)
        lines.append(json.dumps(o, sort_keys=True))
    return lines

def compare(out, ref, what):
    a = {k: v for k, v in files(out).items() if not os.path.basename(k).startswith(".")}
    b = {k: v for k, v in files(ref).items() if not os.path.basename(k).startswith(".")}
    if sorted(a) != sorted(b):
        failures.append(f"{what}: files differ: only in out {sorted(set(a) - set(b))}, only in ref {sorted(set(b) - set(a))}")
        return False
    for k in a:
        if k == "results.jsonl":
            same = normalised_results(a[k]) == normalised_results(b[k])
        else:
            same = open(a[k], "rb").read() == open(b[k], "rb").read()
        if not same:
            failures.append(f"{what}: {k} differs from the uninterrupted run's")
            return False
    temps = [k for k in files(out) if is_temporary(k)]
    if temps:
        failures.append(f"{what}: temporary files left: {temps}")
        return False
    return True

def done_records(cache):
    p = subprocess.run(["mdb_stat", "-s", "done", cache], capture_output=True, text=True)
    for line in p.stdout.splitlines():
        if "Entries:" in line:
            return int(line.split()[-1])
    return 0

# The dataset: the demo's support and queries.
run(["demo", f"{work}/demo", "--queries", str(args.items)])
data = f"{work}/demo/data"
base = ["--support", f"{data}/support.png", f"{data}/support-mask.png", "--queries", f"{data}/queries", "--weights", "synthetic",
        "--quiet", "--json"]

started = time.time()
run(["run"] + base + ["--out", f"{work}/ref", "--cache", f"{work}/ref-cache"])
full = time.time() - started
print(f"reference run of {args.items} items: {full:.1f} s wall", flush=True)

kills = chains = identical = 0
recomputed_done = 0
while kills < args.kills:
    chains += 1
    out, cache = f"{work}/out{chains}", f"{work}/cache{chains}"
    for _ in range(rng.randint(1, 4)):
        if kills >= args.kills:
            break
        before = done_records(cache) if os.path.exists(cache + "/data.mdb") else 0
        p = subprocess.Popen([fssam, "run"] + base + ["--out", out, "--cache", cache], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.0, full))
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            kills += 1
        stdout, _ = p.communicate()
        if p.returncode not in (0, -signal.SIGKILL):
            failures.append(f"chain {chains}: run ended with {p.returncode}")
        if p.returncode == 0 and stdout:
            summary = json.loads(stdout)
            computed = summary["stages"]["decode_mask"]["query"]["computed"]
            skipped = summary["items"]["skipped_as_done"]
            if skipped != before or computed + skipped != args.items:
                recomputed_done += 1
                failures.append(f"chain {chains}: {before} done before, run skipped {skipped} and computed {computed}")
    before = done_records(cache) if os.path.exists(cache + "/data.mdb") else 0
    summary = json.loads(run(["run"] + base + ["--out", out, "--cache", cache]).stdout)
    computed = summary["stages"]["decode_mask"]["query"]["computed"]
    skipped = summary["items"]["skipped_as_done"]
    if skipped != before or computed + skipped != args.items:
        recomputed_done += 1
        failures.append(f"chain {chains}: final run: {before} done before, skipped {skipped}, computed {computed}")
    verify = run(["cache", "verify", "--cache", cache], check=False)
    if verify.returncode != 0:
        failures.append(f"chain {chains}: cache verify: {verify.stdout[-300:]} {verify.stderr[-300:]}")
    if compare(out, f"{work}/ref", f"chain {chains}"):
        identical += 1
    print(f"chain {chains}: {kills} kills so far; resumed folder identical: {identical}/{chains}", flush=True)

# Merge killed mid-way.
sharded = f"{work}/sharded"
for i in range(2):
    run(["run"] + base + ["--out", sharded, "--cache", f"{work}/shard-cache", "--shard", f"{i}/2"])
# Extra synthetic items so the merge takes long enough to be killed (their masks and lines are valid).
for i in range(2):
    part = f"{sharded}/shards/{i}-of-2"
    manifest = json.load(open(part + "/run.json"))
    lines = open(part + "/results.jsonl").read().splitlines()
    for n in range(10000):
        rid = f"zz-synthetic/{i}/{n:05d}.png"
        mask = b"synthetic mask " + rid.encode()
        os.makedirs(os.path.dirname(f"{part}/masks/{rid}.png"), exist_ok=True)
        open(f"{part}/masks/{rid}.png", "wb").write(mask)
        lines.append(json.dumps({"id": rid, "status": "computed", "mask_sha256": hashlib.sha256(mask).hexdigest(), "area": 1,
                                 "seconds": 0.1, "cache_hits": {}}, separators=(",", ":")))
    lines.sort(key=lambda l: json.loads(l)["id"].encode())
    open(part + "/results.jsonl", "w").write("\n".join(lines) + "\n")
    manifest["items"]["ok"] += 10000
    open(part + "/run.json", "w").write(json.dumps(manifest, separators=(",", ":")) + "\n")
    preds = json.load(open(part + "/predictions.json"))
    os.remove(part + "/predictions.json")  # merge needs all parts with or all without
reference_merge = f"{work}/merge-ref"
shutil.copytree(sharded, reference_merge)
started = time.time()
run(["merge", "--out", reference_merge])
merge_time = time.time() - started
merge_kills = merge_identical = 0
for k in range(args.merge_kills):
    target = f"{work}/merge{k}"
    shutil.copytree(sharded, target)
    for _ in range(rng.randint(1, 3)):
        p = subprocess.Popen([fssam, "merge", "--out", target], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.0, merge_time))
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            merge_kills += 1
        p.wait()
    run(["merge", "--out", target])
    a = {k2: v for k2, v in files(target).items() if not k2.startswith("shards/") and not os.path.basename(k2).startswith(".")}
    b = {k2: v for k2, v in files(reference_merge).items() if not k2.startswith("shards/") and not os.path.basename(k2).startswith(".")}
    same = sorted(a) == sorted(b) and all(open(a[x], "rb").read() == open(b[x], "rb").read() for x in a)
    temps = [x for x in files(target) if is_temporary(x)]
    if same and not temps:
        merge_identical += 1
    else:
        failures.append(f"merge {k}: identical={same}, temporaries={temps[:5]}")
    shutil.rmtree(target)

cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"CPU: {cpu}")
print(f"run: {kills} SIGKILLs in {chains} chains of {args.items} items; resumed folders byte-identical to the "
      f"uninterrupted run: {identical}/{chains}; done items recomputed: {recomputed_done}; temporary files left: "
      f"{sum(1 for f in failures if 'temporary' in f)}; cache verify failures: {sum(1 for f in failures if 'verify' in f)}")
print(f"merge: {merge_kills} SIGKILLs over {args.merge_kills} merges of 20,0xx lines ({merge_time:.2f} s each uninterrupted); "
      f"identical to the uninterrupted merge: {merge_identical}/{args.merge_kills}")
for f in failures:
    print("FAIL", f)
print(f"{identical + merge_identical} passed, {len(failures)} failed")
shutil.rmtree(work, ignore_errors=True)
sys.exit(1 if failures else 0)

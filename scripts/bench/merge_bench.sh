#!/usr/bin/env bash
# fssam merge of synthetic shard outputs: RECORDS result lines (plus 1% error lines and one
# prediction per record) over SHARDS parts, one mask per record (merge verifies each against its
# results line, then links it); prints the time and its ratio to the
# 10 s target for 100,000 records.
#   scripts/bench/merge_bench.sh [records=100000] [shards=16]      (FSSAM_BIN, default .build/release/fssam)
set -euo pipefail
cd "$(dirname "$0")/../.."
records=${1:-100000}
shards=${2:-16}
bin=$(realpath "${FSSAM_BIN:-.build/release/fssam}")
work=$(mktemp -d /tmp/fssam-merge-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
python3 - "$work/out" "$records" "$shards" <<'PY'
import hashlib, json, os, sys
out, records, shards = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
parts = [[] for _ in range(shards)]
for i in range(records):
    rid = f"dir{i % 100:02d}/img-{i:07d}.jpg"
    parts[int.from_bytes(hashlib.sha256(rid.encode()).digest()[:8], "big") % shards].append(rid)
for s, ids in enumerate(parts):
    d = f"{out}/shards/{s}-of-{shards}"
    os.makedirs(d + "/masks", exist_ok=True)
    ids.sort(key=lambda x: x.encode())
    # Every result has its mask file with the digest its line records: merge checks both.
    with open(d + "/results.jsonl", "w") as f:
        for rid in ids:
            mask = b"\x89PNG synthetic " + rid.encode()
            p = d + "/masks/" + rid + ".png"
            os.makedirs(os.path.dirname(p), exist_ok=True)
            open(p, "wb").write(mask)
            f.write('{"id":%s,"status":"computed","mask_sha256":"%s","area":%d,"seconds":1.25,"cache_hits":{}}\n'
                    % (json.dumps(rid), hashlib.sha256(mask).hexdigest(), len(rid) * 37))
    with open(d + "/errors.jsonl", "w") as f:
        for rid in ids[::100]:
            f.write('{"id":%s,"path":%s,"stage":"decode","reason":"synthetic"}\n' % (json.dumps(rid), json.dumps("/q/" + rid)))
    with open(d + "/predictions.json", "w") as f:
        lines = ['{"image_id":%s,"category_id":1,"segmentation":{"size":[480,640],"counts":"PPYo1c0ZO`0E;K4L3M3N2N1O1O001O"},"score":0.875,"bbox":[10,20,30,40],"area":1200}' % json.dumps(rid) for rid in ids]
        f.write("[]\n" if not lines else "[\n" + ",\n".join(lines) + "\n]\n")
    m = {"run_id": "run-bench", "pipeline": "fssam", "parameters": {"imr.iterations": "3"},
         "supports": [{"image": "00", "mask": "11"}], "weights": {"scma": "22"},
         "items": {"ok": len(ids), "failed": len(ids[::100])}, "shard": {"index": s, "count": shards}}
    open(d + "/run.json", "w").write(json.dumps(m, separators=(",", ":")) + "\n")
PY
start=$(date +%s.%N)
"$bin" merge --out "$work/out"
end=$(date +%s.%N)
python3 - "$start" "$end" "$records" <<'PY'
import sys
start, end, records = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
t = end - start
print(f"merge of {records} records: {t:.3f} s wall; target 10 s for 100,000 records -> ratio {t / 10 * 100000 / records:.3f} of the target (lower is better)")
PY

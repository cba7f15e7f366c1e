#!/usr/bin/env bash
# Cold start of the README example, side by side: bench/coldstart/run.sh N RESULTS_DIR LABEL=LAUNCHER[@JAVA_OPTS] ...
# Launches each variant in turn (alternating, N rounds), each over a fresh data directory, with
# BATCHAGENT_LOG_LEVEL=INFO, and reads from its log: broker started, stages started, batch submitted and the
# first call to the engine (the capability probe just before the warm-up), each in ms since launch.
# Writes RESULTS_DIR/runs.tsv, one log per run, and RESULTS_DIR/summary.txt (median, min, max per variant).
set -euo pipefail
N=$1; OUT=$2; shift 2
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$OUT"
printf 'variant\tround\tbroker_ms\tstages_ms\tsubmitted_ms\tfirst_call_ms\tload1\n' > "$OUT/runs.tsv"
for round in $(seq 1 "$N"); do
  for spec in "$@"; do
    label=${spec%%=*}; rest=${spec#*=}; launcher=${rest%%@*}; opts=""
    [ "$rest" != "$launcher" ] && opts=${rest#*@}
    dir=$(mktemp -d); log="$OUT/$label-$round.log"
    load=$(cut -d' ' -f1 /proc/loadavg)
    launch=$(date +%s%3N)
    (cd "$dir" && BATCHAGENT_LOG_LEVEL=INFO BATCHAGENT_JAVA_OPTS="-Xmx2g $opts" "$launcher" run \
        --batch "$ROOT/examples/research" --output results.jsonl --data-dir "$dir/data" > "$log" 2>&1) || true
    python3 - "$log" "$launch" "$label" "$round" "$load" >> "$OUT/runs.tsv" <<'PY'
import re, sys, datetime
log, launch, label, rnd, load = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
day = datetime.datetime.fromtimestamp(launch / 1000).replace(hour=0, minute=0, second=0, microsecond=0)
day_ms = int(day.timestamp() * 1000)
marks = {"broker": "Kafka broker started", "stages": "pipeline started", "submitted": "submitted batch",
         "first_call": "engine capabilities"}
found = {}
for line in open(log, errors="replace"):
    m = re.match(r"(\d\d):(\d\d):(\d\d)\.(\d\d\d) ", line)
    if not m:
        continue
    t = day_ms + ((int(m[1]) * 60 + int(m[2])) * 60 + int(m[3])) * 1000 + int(m[4])
    for key, text in marks.items():
        if key not in found and text in line:
            found[key] = t - launch
print("\t".join([label, rnd] + [str(found.get(k, "NA")) for k in marks] + [load]))
PY
    grep -q "20 succeeded" "$log" || echo "WARN: $label round $round did not report 20 succeeded" >&2
    rm -rf "$dir"
  done
done
python3 - "$OUT/runs.tsv" > "$OUT/summary.txt" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
labels = list(dict.fromkeys(r["variant"] for r in rows))
base = None
for label in labels:
    out = [label]
    for col in ("broker_ms", "stages_ms", "submitted_ms", "first_call_ms"):
        v = [int(r[col]) for r in rows if r["variant"] == label and r[col] != "NA"]
        if v:
            out.append(f"{col} median {statistics.median(v)/1000:.1f} s (min {min(v)/1000:.1f}, max {max(v)/1000:.1f}, n={len(v)})")
    med = statistics.median(int(r["first_call_ms"]) for r in rows if r["variant"] == label and r["first_call_ms"] != "NA")
    base = base or med
    out.append(f"first call vs {labels[0]}: {med/base:.2f}x")
    print("; ".join(out))
PY
cat "$OUT/summary.txt"

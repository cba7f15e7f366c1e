#!/usr/bin/env bash
# Cold start of the README example, side by side: bench/coldstart/run.sh N RESULTS_DIR LABEL=LAUNCHER[@JAVA_OPTS] ...
# Launches each variant in turn (alternating, N rounds), each over a fresh data directory, with
# BATCHAGENT_LOG_LEVEL=INFO, and reads from its log: broker started, stages started, batch submitted and the
# first call to the engine (the capability probe just before the warm-up) and every Streams app running (all
# of them have their partitions and have restored their stores), each in ms since launch.
# RESTART=keep-state or RESTART=wipe-state measures a restart over a finished batch's data directory instead
# (no model call then: first_call_ms is NA; streams_running_ms is the figure).
# Writes RESULTS_DIR/runs.tsv, one log per run, RESULTS_DIR/summary.txt (median, min, max per variant) and
# RESULTS_DIR/results.json (the first variant against the 3 s target, for `bench/run readme`).
set -euo pipefail
N=$1; OUT=$2; GIVEN_OUT=$2; shift 2
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd) # each launch runs in its own scratch directory
printf 'variant\tround\tbroker_ms\tstages_ms\tsubmitted_ms\tfirst_call_ms\tstreams_running_ms\tload1\n' > "$OUT/runs.tsv"
# The README example over $dir/data with $launcher and $opts, its log in $1.
run_example() {
  (cd "$dir" && BATCHAGENT_LOG_LEVEL=INFO BATCHAGENT_JAVA_OPTS="-Xmx2g $opts" "$launcher" run \
      --batch "$ROOT/examples/research" --output results.jsonl --data-dir "$dir/data" > "$1" 2>&1) || true
}
for round in $(seq 1 "$N"); do
  for spec in "$@"; do
    label=${spec%%=*}; rest=${spec#*=}; launcher=${rest%%@*}; opts=""
    [ "$rest" != "$launcher" ] && opts=${rest#*@}
    dir=$(mktemp -d); log="$OUT/$label-$round.log"
    if [ -n "${RESTART:-}" ]; then
      # A restart instead of a first start: the batch runs once, untimed, over the same data directory; with
      # RESTART=wipe-state the Streams apps' local state goes too (a new pod's start: every store restores
      # from its changelog).
      run_example "$OUT/$label-$round-first.log"
      if [ "$RESTART" = "wipe-state" ]; then rm -rf "$dir/data/streams"; fi
    fi
    load=$(cut -d' ' -f1 /proc/loadavg)
    launch=$(date +%s%3N)
    run_example "$log"
    python3 - "$log" "$launch" "$label" "$round" "$load" >> "$OUT/runs.tsv" <<'PY'
import re, sys, datetime
log, launch, label, rnd, load = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
day = datetime.datetime.fromtimestamp(launch / 1000).replace(hour=0, minute=0, second=0, microsecond=0)
day_ms = int(day.timestamp() * 1000)
marks = {"broker": "Kafka broker started", "stages": "pipeline started", "submitted": "submitted batch",
         "first_call": "engine capabilities", "streams_running": "pipeline running"}
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
# A restart makes no model call: its runs compare by when the Streams apps run.
ratio_col = "first_call_ms" if any(r["first_call_ms"] != "NA" for r in rows) else "streams_running_ms"
for label in labels:
    out = [label]
    for col in ("broker_ms", "stages_ms", "submitted_ms", "first_call_ms", "streams_running_ms"):
        v = [int(r[col]) for r in rows if r["variant"] == label and r[col] != "NA"]
        if v:
            out.append(f"{col} median {statistics.median(v)/1000:.1f} s (min {min(v)/1000:.1f}, max {max(v)/1000:.1f}, n={len(v)})")
    v = [int(r[ratio_col]) for r in rows if r["variant"] == label and r[ratio_col] != "NA"]
    if v:
        med = statistics.median(v)
        base = base or med
        out.append(f"{ratio_col[:-3].replace('_', ' ')} vs {labels[0]}: {med/base:.2f}x")
    print("; ".join(out))
PY
commit=$(cd "$ROOT" && git rev-parse --short HEAD)$(cd "$ROOT" && git diff --quiet HEAD -- . ':!bench/results' ':!README.md' || echo -dirty)
if [ -z "${RESTART:-}" ]; then # a README row is a first start
python3 - "$OUT/runs.tsv" "$commit" "bench/coldstart/run.sh $N $GIVEN_OUT $*" > "$OUT/results.json" <<'PY'
import csv, json, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
label = rows[0]["variant"]
mine = [r for r in rows if r["variant"] == label and r["first_call_ms"] != "NA"]
first = [int(r["first_call_ms"]) / 1000 for r in mine]
loads = [float(r["load1"]) for r in mine]
med = statistics.median(first)
measured = f"{med:.1f} s median of {len(first)} ({min(first):.1f}-{max(first):.1f}), load average {min(loads):.1f}-{max(loads):.1f}"
print(json.dumps({
    "workload": "coldstart",
    "command": sys.argv[3],
    "machine": {"git_commit": sys.argv[2]},
    "targets": [{
        "name": "embedded cold start: `batchagent run` launched -> first model call (README example)",
        "target": "at most 3 s",
        "measured": measured,
        "met": med <= 3,
        "note": "JVM start, the in-process broker's start and the stages' start are CPU-bound class loading and JIT on 2 cores "
                "(docs/latency.md, Cold start)"}],
    "readme_rows": [{
        "what": "Cold start: `batchagent run` launched -> first model call (README example, target <= 3 s)",
        "engine": "engine simulator, the default of `run` (SIMULATED)",
        "ours": measured + ("" if med <= 3 else " (missed)"),
        "original": "not published",
        "command": sys.argv[3]}],
}, indent=1))
PY
fi
cat "$OUT/summary.txt"

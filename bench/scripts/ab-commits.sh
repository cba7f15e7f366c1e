#!/bin/bash
# Two commits' own `bench/run scale`, side by side on this machine, in alternating order:
#   bench/scripts/ab-commits.sh OLD NEW RESULTS_DIR REPS [bench/run scale options...]
# e.g. bench/scripts/ab-commits.sh 3ac9704 8a3b46e bench/results/scale/ab-kv 2 --sizes 10000 --processes 1 --variant none --reps 1
# Each commit is built in its own worktree (under $AB_DIR, default /tmp/ab) with its own Maven repository: a
# hard-linked copy of ~/.m2/repository without io/batchagent, so that neither build replaces the other's jars
# (nor those in ~/.m2). Runs go OLD NEW NEW OLD OLD NEW ...; each run's report lands in RESULTS_DIR/<commit>-r<N>,
# and RESULTS_DIR/runs.tsv gets one line per run and size: commit, run, load at start, agent-turns/s,
# overhead p50 ms, worker and driver CPU ms per agent turn. The worktrees stay for reruns: `git worktree remove`
# them (and rm -rf $AB_DIR) when done.
set -euo pipefail
[ $# -ge 4 ] || { sed -n 2,9p "$0"; exit 2; }
for c in "$1" "$2"; do
  git rev-parse --verify -q "$c^{commit}" >/dev/null || { echo "ab-commits.sh: $c is not a commit of this repository" >&2; exit 2; }
done
OLD=$(git rev-parse --short "$1"); NEW=$(git rev-parse --short "$2"); OUT=$(realpath -m "$3"); REPS=$4; shift 4
AB_DIR=${AB_DIR:-/tmp/ab}
mkdir -p "$AB_DIR" "$OUT"
for c in "$OLD" "$NEW"; do
  wt="$AB_DIR/wt-$c"; repo="$AB_DIR/m2-$c"
  if [ ! -d "$wt" ]; then git worktree add -f --detach "$wt" "$c" >/dev/null; fi
  if [ ! -d "$repo" ]; then cp -al "$HOME/.m2/repository" "$repo" && rm -rf "$repo/io/batchagent"; fi
  mkdir -p "$wt/.mvn" && echo "-Dmaven.repo.local=$repo" > "$wt/.mvn/maven.config"
  echo "building $c in $wt" >&2
  (cd "$wt" && mvn -B -ntp -o -q install -DskipTests) >&2
done
printf 'commit\trun\tload_at_start\tagents\tturns_per_s\toverhead_p50_ms\tworker_cpu_ms_per_turn\tdriver_cpu_ms_per_turn\n' > "$OUT/runs.tsv"
for ((i = 1; i <= 2 * REPS; i++)); do
  # OLD NEW NEW OLD OLD NEW ...: each commit goes first as often as the other.
  if (( (i + 1) / 2 % 2 == 1 )); then c=$([ $((i % 2)) -eq 1 ] && echo "$OLD" || echo "$NEW"); else c=$([ $((i % 2)) -eq 1 ] && echo "$NEW" || echo "$OLD"); fi
  load=$(cut -d' ' -f1 /proc/loadavg)
  echo "run $i: $c, load $load, $(date +%T)" >&2
  (cd "$AB_DIR/wt-$c" && bench/run scale "$@" --results-dir "$OUT/$c-r$i" --work-dir "$AB_DIR/work-$c") 2>&1 | grep -E "^scale |wrote" >&2
  python3 - "$OUT/$c-r$i/scale/results.json" "$c" "$i" "$load" >> "$OUT/runs.tsv" <<'PY'
import json, sys
path, commit, run, load = sys.argv[1:]
for r in json.load(open(path))["runs"]:
    print("\t".join(str(x) for x in (commit, run, load, r["agents"], round(r["agent_turns_per_s"], 1),
          round(r["kafka_overhead_per_turn_ms"]["p50"], 1), round(r["worker_cpu_ms_per_agent_turn"], 2),
          round(r["driver_cpu_ms_per_agent_turn"], 2))))
PY
done
column -t "$OUT/runs.tsv" >&2

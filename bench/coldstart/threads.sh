#!/usr/bin/env bash
# Where a cold start's CPU goes: bench/coldstart/threads.sh AT_MS [LAUNCHER [JAVA_OPTS]]
# Launches the README example (`LAUNCHER run`, default ./batchagent) over a fresh data directory, samples the
# process's CPU every 250 ms, and AT_MS after launch reads every live thread's CPU time from /proc, summed by
# thread name with its numbers and ids taken off (so the four Streams apps' threads and the broker's handler
# pool each make one line). Prints the CPU in use per interval, then the threads, most CPU first. Threads
# that already ended are not counted (the start-up threads of the stages), so the total is a lower bound.
# Linux only (/proc); the thread names are the first 15 characters the JVM gives the OS.
set -euo pipefail
AT_MS=${1:?usage: bench/coldstart/threads.sh AT_MS [LAUNCHER [JAVA_OPTS]]}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LAUNCHER=${2:-$ROOT/batchagent}
OPTS=${3:-}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
launch=$(date +%s%3N)
(cd "$dir" && BATCHAGENT_LOG_LEVEL=INFO BATCHAGENT_JAVA_OPTS="-Xmx2g $OPTS" "$LAUNCHER" run --batch "$ROOT/examples/research" \
    --output results.jsonl --data-dir "$dir/data" > "$dir/run.log" 2>&1) &
runner=$!
pid=""
while [ -z "$pid" ] && kill -0 "$runner" 2>/dev/null; do
  pid=$(pgrep -n -f "BatchAgentCommand run --batch $ROOT/examples/research" || true)
  sleep 0.02
done
if [ -z "$pid" ]; then
  echo "the run ended before its JVM was seen; its output:" >&2
  tail -n 5 "$dir/run.log" >&2
  exit 1
fi
hz=$(getconf CLK_TCK)
echo "ms since launch, cores in use over the interval before"
prev_t=$launch prev_c=0
while :; do
  now=$(date +%s%3N)
  [ $((now - launch)) -ge "$AT_MS" ] && break
  sleep 0.25
  now=$(date +%s%3N)
  c=$(awk '{print $14+$15}' "/proc/$pid/stat" 2>/dev/null) || break
  awk -v t=$((now - launch)) -v dc=$((c - prev_c)) -v dt=$((now - prev_t)) -v hz="$hz" \
      'BEGIN{printf "%6d ms  %.2f\n", t, dc / hz / (dt / 1000)}'
  prev_t=$now prev_c=$c
done
for t in /proc/"$pid"/task/*; do
  printf '%s\t%s\n' "$(cat "$t/comm" 2>/dev/null)" "$(awk '{print $14+$15}' "$t/stat" 2>/dev/null)"
done > "$dir/threads.tsv"
python3 - "$dir/threads.tsv" "$hz" "$AT_MS" <<'PY'
import collections, re, sys
ticks, hz = collections.Counter(), int(sys.argv[2])
for line in open(sys.argv[1]):
    name, _, t = line.rstrip("\n").partition("\t")
    if not t:
        continue
    name = re.sub(r"[0-9a-f]{8}-[0-9a-f-]*", "", name)  # a Streams client's id
    name = re.sub(r"[-_ #]*\d*$", "", name)  # a pool member's number
    ticks[name] += int(t)
total = sum(ticks.values())
print(f"CPU of the live threads {sys.argv[3]} ms after launch: {total / hz:.2f} s")
for name, t in ticks.most_common(25):
    print(f"{t / hz:6.2f} s  {100 * t / total:5.1f}%  {name}")
PY
wait "$runner" || true
grep -E "succeeded|engine capabilities" "$dir/run.log" | cut -c1-120 || true

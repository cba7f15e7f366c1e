#!/bin/bash
# bench/scripts/idle-cpu.sh LABEL [worker args...]: a broker and one worker process (every stage, sim://instant) as
# separate processes; after 45 s idle, the CPU time each spends over 30 s (from /proc), in ms per second.
L=$1; shift
D=${TMPDIR:-/tmp}/idle-$L; rm -rf $D; mkdir -p $D
cd "$(dirname "$0")/../.."
P=$((19000 + RANDOM % 1000))
cli/target/batchagent/bin/batchagent broker --data-dir $D/broker --port $P > $D/broker.log 2>&1 &
BP=$!
until grep -q "127.0.0.1:$P" $D/broker.log 2>/dev/null; do sleep 1; done
cli/target/batchagent/bin/batchagent worker --role all --bootstrap-servers 127.0.0.1:$P --backend sim://instant --state-dir $D/state "$@" > $D/worker.log 2>&1 &
WP=$!
sleep 45
cpu() { awk '{print $14+$15}' /proc/$1/stat; }
b0=$(cpu $BP); w0=$(cpu $WP); sleep 30; b1=$(cpu $BP); w1=$(cpu $WP)
echo "$L idle CPU over 30 s: broker $(( (b1-b0)*10/30 )) ms/s, worker $(( (w1-w0)*10/30 )) ms/s  (load $(cut -d' ' -f1 /proc/loadavg))"
kill $WP; sleep 3; kill $BP; wait 2>/dev/null

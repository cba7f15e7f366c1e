#!/bin/bash
# Side-by-side: the old scale driver at fa5bf08 (README's 190 ms / 412 turns/s) and at 501276a (the 666 ms / 111),
# alternating, on this machine; each run its own broker. Then HEAD's scale with only the product variant.
set -x
for n in fa5 501; do (cd /work/wt/$n && mvn -B -ntp -q install -DskipTests) || exit 1; done
order="fa5 501 501 fa5 fa5 501"
i=0
for n in $order; do
  i=$((i+1))
  echo "=== run $i: $n load $(cut -d' ' -f1 /proc/loadavg) $(date +%T)"
  (cd /work/wt/$n && bench/run scale --sizes 20,1000 --results-dir /work/bisect/$n-r$i --work-dir /work/bisect/work-$n) 2>&1 | grep -v "OutOfOrder\|ReplicaManager\|^\s*at \|^Caused" | grep "scale\|wrote\|Exception" 
done
echo "=== done $(date +%T)"

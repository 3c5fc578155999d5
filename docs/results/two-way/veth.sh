#!/bin/bash
for i in 1 2 3; do
  for v in old new; do
    D=/work/wt/old; [ $v = new ] && D=/work/main
    echo "=== $v run $i $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
    $D/target/release/examples/poll_modes 20000 5000 2>&1
  done
done
echo "=== done $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"

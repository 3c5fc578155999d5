#!/bin/bash
OLD=/work/wt/old/target/release/deps/router-0c82fe73cfcebd75
NEW=/work/main/target/release/deps/router-7e7287145db41836
for i in 1 2 3; do
  for v in old new; do
    B=$OLD; [ $v = new ] && B=$NEW
    echo "=== $v run $i $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
    (cd $(dirname $B)/../../..; $B --bench --noplot 'router/3_routes' 2>&1 | grep -E "^router/|time:" )
  done
done
echo "=== done $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"

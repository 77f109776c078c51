#!/usr/bin/env bash
# Noisy neighbour on one node: redis-benchmark SET latency of an `always` database, alone
# ("quiet") and while an `everysec` database on the same node takes 64 KiB SETs from 8
# clients as fast as they go ("noisy"; at most 40,000 of them, 2.6 GB, so the disk does not
# fill up). Prints redis-benchmark's CSV line and the data size.
#   bash bench/redis_noisy_neighbour.sh quiet|noisy      (TERN=path/to/tern)
set -euo pipefail
mode=$1
dir=$(mktemp -d)
port=$((7000 + RANDOM % 1000))
printf 'a:pwa fsync=always\nb:pwb fsync=everysec\n' > "$dir/tenants"
"${TERN:-target/release/tern}" node --redis-addr 127.0.0.1:$port --tenants-file "$dir/tenants" \
  --data-dir "$dir/data" --snapshot-min-log-bytes 100000000000 >"$dir/node.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
sleep 1
if [ "$mode" = noisy ]; then
  redis-benchmark -p $port -a pwb -c 8 -n 40000 -P 4 -d 65536 -r 1000 -t set -q >/dev/null 2>&1 &
  noise=$!
  sleep 2
fi
# Fewer requests while the neighbour writes: it stops after 2.6 GB.
requests=$([ "$mode" = noisy ] && echo 20000 || echo 30000)
redis-benchmark -p $port -a pwa -c 10 -n "$requests" -P 1 -r 100000 -t set --csv 2>/dev/null | tail -1
if [ "$mode" = noisy ]; then kill $noise 2>/dev/null || true; fi
du -sh "$dir/data" | cut -f1
grep -E "ERROR|WARN" "$dir/node.log" | head -3 || true

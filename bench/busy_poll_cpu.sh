#!/usr/bin/env bash
# CPU of a tern node with and without busy polling: idle 5 s, then one redis-py client
# sending a SET every millisecond (about 740 requests/s here) for 5 s.
# Usage: bash bench/busy_poll_cpu.sh   (after cargo build --release -p tern; needs redis-py)
T=${TERN:-target/release/tern}
for us in 0 50; do
  port=$((8000 + RANDOM % 1000))
  $T node --redis-addr 127.0.0.1:$port --tenant b:pw --busy-poll-us $us >/dev/null 2>&1 &
  pid=$!; sleep 1
  t0=$(awk '{print $14+$15}' /proc/$pid/stat); sleep 5; t1=$(awk '{print $14+$15}' /proc/$pid/stat)
  python3 - $port <<'PY'
import sys, time, redis
r = redis.Redis(port=int(sys.argv[1]), password="pw")
end = time.time() + 5
n = 0
while time.time() < end:
    r.set("k", "v"); n += 1
    time.sleep(0.001)
print("requests", n)
PY
  t2=$(awk '{print $14+$15}' /proc/$pid/stat)
  echo "busy-poll-us=$us idle: $((t1-t0)) ticks/5s, light traffic: $((t2-t1)) ticks/5s (100 ticks = 1 core-second)"
  kill $pid; wait $pid 2>/dev/null
done

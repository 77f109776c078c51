#!/usr/bin/env bash
# One durable SET run (fsync always, pipeline 1, 50 clients) against redis-server or tern,
# with the server's syscall counts from perf's tracepoints (low overhead) and, with
# TRACE_FSYNC=1, the average fdatasync time (`perf trace -s`, costlier).
#   bash bench/redis_durable_probe.sh redis|tern      (TERN=path/to/tern, N=requests)
set -euo pipefail
kind=$1
port=$((7000 + RANDOM % 1000))
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
if [ "$kind" = redis ]; then
  redis-server --port $port --save '' --appendonly yes --appendfsync always --dir "$dir" \
    --requirepass pw --bind 127.0.0.1 >/dev/null 2>&1 &
else
  "${TERN:-target/release/tern}" node --redis-addr 127.0.0.1:$port --tenant bench:pw \
    --data-dir "$dir" --fsync always >/dev/null 2>&1 &
fi
pid=$!
sleep 1
if [ "${TRACE_FSYNC:-0}" = 1 ]; then
  perf trace -s -e fdatasync -p $pid -o "$dir/perf.txt" &
else
  perf stat -e 'syscalls:sys_enter_fdatasync,syscalls:sys_enter_futex,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_write,syscalls:sys_enter_pwrite64,context-switches,cpu-clock' \
    -p $pid -o "$dir/perf.txt" &
fi
perf_pid=$!
sleep 0.3
echo "rps,avg_ms,min_ms,p50_ms,p95_ms,p99_ms,max_ms"
redis-benchmark -p $port -a pw -c 50 -n "${N:-100000}" -P 1 -r 100000 -t set --csv 2>/dev/null | tail -1 | cut -d, -f2-
kill -INT $perf_pid; wait $perf_pid || true
kill $pid; wait $pid 2>/dev/null || true
grep -E "syscalls|context|cpu-clock|fdatasync" "$dir/perf.txt" | awk '{print $1, $2, $3, $4, $5, $6}' | sed 's/syscalls:sys_enter_//'

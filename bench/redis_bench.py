#!/usr/bin/env python3
"""Side-by-side benchmark of tern and Debian's redis-server with redis-benchmark.

Method (see ../shared/guides/REDIS.md): same client binary for both servers, same session,
runs interleaved A,B,A,B, first run discarded, median and min-max of the rest. Two layouts:
`pinned` (server on core 0, client on core 1: the per-core figure) and `free` (no pinning).
Both servers require a password (tern always does), both keep no persistence.
Memory: used_memory delta after loading 1M keys with 16-byte values.
CPU: the server's and the client's (redis-benchmark's) user+system CPU time per request, and
the share of its core each kept busy: at pipeline 1 a client that keeps its core at ~100%
is the ceiling, and the servers' CPU per request is the fair comparison.
`--durable`: SET throughput with persistence on both sides, per fsync policy: redis-server with
`appendonly yes` and the matching `appendfsync`, tern with `--data-dir` and `--fsync`.
`--scripts`: EVAL of a one-line script (an INCR), pipeline 1 and 16, both layouts.
`--fixed-rate`: latency at a fixed request rate (REDIS.md, method 4): the open-loop
`resp-benchmark` (PyPI) sends SET and GET at 50% and 80% of redis-server's maximum (measured
first with the same tool), pinned layout, 50 clients; average and p99 per run.
"""

import argparse
import csv
import io
import os
import re
import resource
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench-password-0123456789"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


# Extra `tern node` arguments for every run (`--tern-args`), e.g. "--busy-poll-us 50".
TERN_EXTRA_ARGS = []


class Server:
    def __init__(self, kind, cpus, tern_bin, fsync=None):
        """`fsync` None keeps no persistence; "always" or "everysec" turns it on."""
        self.kind = kind
        self.port = free_port()
        self.tmp = tempfile.TemporaryDirectory(prefix=f"bench-{kind}-")
        prefix = ["taskset", "-c", cpus] if cpus else []
        if kind == "redis":
            persistence = ["--appendonly", "no"] if fsync is None else [
                "--appendonly", "yes", "--appendfsync", fsync, "--dir", self.tmp.name]
            cmd = ["redis-server", "--port", str(self.port), "--save", "", *persistence,
                   "--requirepass", PASSWORD, "--bind", "127.0.0.1", "--protected-mode", "no"]
        else:
            persistence = [] if fsync is None else ["--data-dir", self.tmp.name, "--fsync", fsync]
            cmd = [tern_bin, "node", "--redis-addr", f"127.0.0.1:{self.port}", "--tenant", f"bench:{PASSWORD}",
                   *persistence, *TERN_EXTRA_ARGS]
        self.proc = subprocess.Popen(prefix + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def cli(self, *args):
        out = subprocess.run(["redis-cli", "-p", str(self.port), "--no-auth-warning", "-a", PASSWORD, *args],
                             capture_output=True, text=True, check=True)
        return out.stdout

    def used_memory(self):
        for line in self.cli("INFO", "memory").splitlines():
            if line.startswith("used_memory:"):
                return int(line.split(":")[1])
        raise RuntimeError("no used_memory")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.tmp.cleanup()


# Tests that are not redis-benchmark's own (`-t`): the command line to send.
CUSTOM_TESTS = {
    # One short script: an INCR of a random key (what job-queue scripts do most, in miniature).
    "eval": ["EVAL", "return redis.call('incr', KEYS[1])", "1", "counter:__rand_int__"],
}


def process_cpu_seconds(pid):
    """User + system CPU seconds of a process so far, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_benchmark(port, test, pipeline, requests, client_cpus, keyspace, server_pid):
    """One redis-benchmark run: (ops/s, p50 ms, p99 ms, server CPU µs per request, client CPU
    µs per request, server busy share of a core, client busy share of a core)."""
    prefix = ["taskset", "-c", client_cpus] if client_cpus else []
    what = CUSTOM_TESTS.get(test) or ["-t", test]
    cmd = prefix + ["redis-benchmark", "-p", str(port), "-a", PASSWORD, "-c", "50", "-n", str(requests),
                    "-P", str(pipeline), "-r", str(keyspace), "--csv", *what]
    server_before, client_before, wall_before = process_cpu_seconds(server_pid), children_cpu_seconds(), time.time()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    wall = time.time() - wall_before
    server_cpu = process_cpu_seconds(server_pid) - server_before
    client_cpu = children_cpu_seconds() - client_before
    rows = list(csv.DictReader(io.StringIO(out)))
    row = rows[0]
    return (float(row["rps"]), float(row["p50_latency_ms"]), float(row["p99_latency_ms"]),
            server_cpu / requests * 1e6, client_cpu / requests * 1e6, server_cpu / wall, client_cpu / wall)


def preload(port, keyspace):
    subprocess.run(["redis-benchmark", "-p", str(port), "-a", PASSWORD, "-c", "50", "-n", str(keyspace),
                    "-P", "64", "-t", "set", "-r", str(keyspace), "-q"], capture_output=True, check=True)


def summarize(values):
    return statistics.median(values), min(values), max(values)


THROUGHPUT_CASES = [("set", 1, 300_000), ("get", 1, 300_000), ("set", 16, 2_000_000), ("get", 16, 2_000_000)]
DURABLE_CASES = [("set", 1, 200_000), ("set", 16, 1_000_000)]
SCRIPT_CASES = [("eval", 1, 200_000), ("eval", 16, 1_000_000)]


def throughput_layout(name, server_cpus, client_cpus, tern_bin, runs, keyspace, cases=THROUGHPUT_CASES, fsync=None):
    servers = {kind: Server(kind, server_cpus, tern_bin, fsync) for kind in ("redis", "tern")}
    try:
        for s in servers.values():
            preload(s.port, keyspace)
        results = {(t, p, k): [] for (t, p, _) in cases for k in servers}
        for run in range(runs + 1):
            for (test, pipeline, requests) in cases:
                for kind in ("redis", "tern"):
                    r = run_benchmark(servers[kind].port, test, pipeline, requests, client_cpus, keyspace,
                                      servers[kind].proc.pid)
                    if run > 0:  # the first run warms up both servers and is discarded
                        results[(test, pipeline, kind)].append(r)
            print(f"  [{name}] run {run} done", file=sys.stderr, flush=True)
        rows = []
        for (test, pipeline, _) in cases:
            red = results[(test, pipeline, "redis")]
            ter = results[(test, pipeline, "tern")]
            red_rps, ter_rps = summarize([x[0] for x in red]), summarize([x[0] for x in ter])
            rows.append({
                "layout": name, "test": test.upper(), "pipeline": pipeline,
                "redis_rps": red_rps, "tern_rps": ter_rps, "ratio": ter_rps[0] / red_rps[0],
                "redis_p50": statistics.median(x[1] for x in red), "tern_p50": statistics.median(x[1] for x in ter),
                "redis_p99": statistics.median(x[2] for x in red), "tern_p99": statistics.median(x[2] for x in ter),
                "redis_cpu_us": statistics.median(x[3] for x in red), "tern_cpu_us": statistics.median(x[3] for x in ter),
                "redis_client_us": statistics.median(x[4] for x in red),
                "tern_client_us": statistics.median(x[4] for x in ter),
                "redis_busy": statistics.median(x[5] for x in red), "tern_busy": statistics.median(x[5] for x in ter),
                "redis_client_busy": statistics.median(x[6] for x in red),
                "tern_client_busy": statistics.median(x[6] for x in ter),
            })
        return rows
    finally:
        for s in servers.values():
            s.stop()


def memory_comparison(tern_bin, keys):
    value = "v" * 16
    payload = "".join(f"*3\r\n$3\r\nSET\r\n${len(k)}\r\n{k}\r\n$16\r\n{value}\r\n" for k in (f"key:{i:012d}" for i in range(keys)))
    out = {}
    for kind in ("redis", "tern"):
        s = Server(kind, None, tern_bin)
        try:
            before = s.used_memory()
            subprocess.run(["redis-cli", "-p", str(s.port), "--no-auth-warning", "-a", PASSWORD, "--pipe"],
                           input=payload, capture_output=True, text=True, check=True)
            dbsize = int(s.cli("DBSIZE").strip())
            assert dbsize == keys, f"{kind} has {dbsize} keys"
            time.sleep(0.5)
            out[kind] = (s.used_memory() - before) / keys
        finally:
            s.stop()
    return out


def fmt_rps(t):
    med, lo, hi = t
    return f"{med/1000:,.0f}k ({lo/1000:,.0f}-{hi/1000:,.0f}k)"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5, help="measured runs per case (one more is discarded)")
    ap.add_argument("--keyspace", type=int, default=1_000_000)
    ap.add_argument("--memory-keys", type=int, default=1_000_000)
    ap.add_argument("--tern-bin", default=str(ROOT / "target" / "release" / "tern"))
    ap.add_argument("--layouts", default="pinned,free")
    ap.add_argument("--tern-args", default="", help='extra `tern node` arguments, e.g. "--busy-poll-us 50"')
    ap.add_argument("--out", default=None)
    ap.add_argument("--durable", action="store_true", help="SET with persistence (always, everysec) instead")
    ap.add_argument("--scripts", action="store_true", help="EVAL of a one-line script instead (both layouts)")
    ap.add_argument("--fixed-rate", action="store_true", help="latency at 50%% and 80%% of redis-server's maximum")
    ap.add_argument("--seconds", type=int, default=8, help="length of each --fixed-rate run")
    args = ap.parse_args()
    TERN_EXTRA_ARGS.extend(shlex.split(args.tern_args))
    if args.fixed_rate:
        return fixed_rate_main(args)
    if args.durable:
        return durable_main(args)
    if args.scripts:
        return scripts_main(args)
    args.out = args.out or str(ROOT / "bench" / "results" / "redis-latest.md")
    for tool in ("redis-server", "redis-benchmark", "redis-cli", "taskset"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is required (apt-get install redis-server redis-tools util-linux)")
    rows = []
    layouts = {"pinned": ("0", "1"), "free": (None, None)}
    for name in args.layouts.split(","):
        server_cpus, client_cpus = layouts[name]
        rows += throughput_layout(name, server_cpus, client_cpus, args.tern_bin, args.runs, args.keyspace)
    mem = memory_comparison(args.tern_bin, args.memory_keys)
    lines = [
        f"redis-server: {subprocess.run(['redis-server', '--version'], capture_output=True, text=True).stdout.strip()}",
        f"runs: {args.runs} measured (+1 discarded) per case, interleaved; 50 clients; keyspace {args.keyspace}",
        "",
        *table_lines(rows, "layout"),
    ]
    lines += [
        "",
        f"Memory for {args.memory_keys} keys (`key:%012d`, 16-byte values), used_memory delta per key: "
        f"redis-server {mem['redis']:.1f} B, tern {mem['tern']:.1f} B, tern/redis **{mem['tern']/mem['redis']:.2f}x**",
    ]
    text = "\n".join(lines) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)


def durable_main(args):
    rows = []
    for fsync in ("always", "everysec"):
        rows += throughput_layout(f"free, fsync {fsync}", None, None, args.tern_bin, args.runs, args.keyspace,
                                  DURABLE_CASES, fsync)
    setting = " with `appendonly yes`, `appendfsync` as named; tern with `--data-dir` and `--fsync` as named"
    write_report(args, rows, "setting", setting, "redis-durable-latest.md")


def scripts_main(args):
    rows = []
    layouts = {"pinned": ("0", "1"), "free": (None, None)}
    for name in args.layouts.split(","):
        server_cpus, client_cpus = layouts[name]
        rows += throughput_layout(name, server_cpus, client_cpus, args.tern_bin, args.runs, args.keyspace, SCRIPT_CASES)
    write_report(args, rows, "layout", "", "redis-scripts-latest.md")


def table_lines(rows, first_column):
    """The Markdown table of `rows` (from `throughput_layout`): throughput, latency, and CPU
    time per request with each side's busy share of a core (server, then client)."""
    lines = [
        f"| {first_column} | test | P | redis-server ops/s median (min-max) | tern ops/s median (min-max) | tern/redis "
        "| p50 ms redis / tern | p99 ms redis / tern | server CPU µs/request redis / tern (core busy) "
        "| client CPU µs/request vs redis / vs tern (core busy) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['layout']} | {r['test']} | {r['pipeline']} | {fmt_rps(r['redis_rps'])} | {fmt_rps(r['tern_rps'])} | "
            f"**{r['ratio']:.2f}x** | {r['redis_p50']:.3f} / {r['tern_p50']:.3f} | {r['redis_p99']:.3f} / {r['tern_p99']:.3f} | "
            f"{r['redis_cpu_us']:.2f} / {r['tern_cpu_us']:.2f} ({r['redis_busy']:.0%} / {r['tern_busy']:.0%}) | "
            f"{r['redis_client_us']:.2f} / {r['tern_client_us']:.2f} "
            f"({r['redis_client_busy']:.0%} / {r['tern_client_busy']:.0%}) |"
        )
    return lines


RESP_COMMANDS = {
    "set": "SET {key uniform %d} {value 16}",
    "get": "GET {key uniform %d}",
}


def resp_benchmark(port, test, rate, seconds, keyspace, client_core):
    """One open-loop run of resp-benchmark (`rate` 0: as fast as it can); returns
    (achieved ops/s, average ms, p99 ms) from its last status line."""
    cmd = ["resp-benchmark", "-p", str(port), "-a", PASSWORD, "-c", "50", "-t", str(int(rate)), "-s", str(seconds),
           "--cores", client_core, RESP_COMMANDS[test] % keyspace]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=seconds + 120).stdout
    # The last status line holds the totals: "qps: 40000, conn: 50, cnt: …, avg: 0.18ms, p99: 1.0ms".
    found = re.findall(r"qps: (\d+)[^\n]*?avg: ([\d.]+)ms, p99: ([\d.]+)ms", out)
    if not found:
        raise RuntimeError(f"no result line from resp-benchmark: {out[-300:]}")
    qps, avg_ms, p99_ms = found[-1]
    return float(qps), float(avg_ms), float(p99_ms)


def fixed_rate_main(args):
    if shutil.which("resp-benchmark") is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "resp-benchmark"], check=True)
    servers = {kind: Server(kind, "0", args.tern_bin) for kind in ("redis", "tern")}
    rows = []
    try:
        for s in servers.values():
            preload(s.port, args.keyspace)
        for test in ("set", "get"):
            # Maximum rates, interleaved, first run discarded: redis-server's sets the fixed
            # rates; both are reported (resp-benchmark needs less CPU per request than
            # redis-benchmark, so it shows more of the servers at pipeline 1).
            maxima = {kind: [] for kind in servers}
            for run in range(args.runs + 1):
                for kind in ("redis", "tern"):
                    r = resp_benchmark(servers[kind].port, test, 0, args.seconds, args.keyspace, "1")
                    if run > 0:
                        maxima[kind].append(r)
            peak = statistics.median(r[0] for r in maxima["redis"])
            rows.append((test.upper(), None, 0, maxima))
            print(f"  [{test}] redis-server maximum {peak:,.0f} ops/s", file=sys.stderr, flush=True)
            for share in (0.5, 0.8):
                rate = round(peak * share / 100) * 100
                results = {kind: [] for kind in servers}
                for run in range(args.runs + 1):
                    for kind in ("redis", "tern"):
                        r = resp_benchmark(servers[kind].port, test, rate, args.seconds, args.keyspace, "1")
                        if run > 0:
                            results[kind].append(r)
                rows.append((test.upper(), share, rate, results))
                print(f"  [{test}] {share:.0%} done", file=sys.stderr, flush=True)
    finally:
        for s in servers.values():
            s.stop()
    lines = [
        f"redis-server: {subprocess.run(['redis-server', '--version'], capture_output=True, text=True).stdout.strip()}",
        f"resp-benchmark, pinned (server core 0, client core 1), 50 clients, {args.seconds} s per run, "
        f"{args.runs} measured runs (+1 discarded) interleaved; keyspace {args.keyspace}",
        "",
        "| test | rate (share of redis max) | achieved redis / tern | avg ms redis / tern (median) | "
        "p99 ms redis / tern (median) | p99 ms min-max redis / tern |",
        "|---|---|---|---|---|---|",
    ]
    for test, share, rate, results in rows:
        red, ter = results["redis"], results["tern"]
        med = lambda rs, i: statistics.median(r[i] for r in rs)  # noqa: E731
        what = "maximum (as fast as it can)" if share is None else f"{rate:,} ({share:.0%})"
        achieved = f"{med(red, 0):,.0f} / {med(ter, 0):,.0f}"
        if share is None:
            achieved += (f" ({min(r[0] for r in red):,.0f}-{max(r[0] for r in red):,.0f} / "
                         f"{min(r[0] for r in ter):,.0f}-{max(r[0] for r in ter):,.0f}), "
                         f"**{med(ter, 0) / med(red, 0):.2f}x**")
        lines.append(
            f"| {test} | {what} | {achieved} | "
            f"{med(red, 1):.3f} / {med(ter, 1):.3f} | **{med(red, 2):.2f} / {med(ter, 2):.2f}** | "
            f"{min(r[2] for r in red):.2f}-{max(r[2] for r in red):.2f} / "
            f"{min(r[2] for r in ter):.2f}-{max(r[2] for r in ter):.2f} |"
        )
    text = "\n".join(lines) + "\n"
    out = Path(args.out or ROOT / "bench" / "results" / "redis-fixed-rate-latest.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)


def write_report(args, rows, first_column, server_note, default_name):
    """Writes and prints the Markdown table of `rows` (from `throughput_layout`)."""
    lines = [
        f"redis-server: {subprocess.run(['redis-server', '--version'], capture_output=True, text=True).stdout.strip()}"
        + server_note,
        f"runs: {args.runs} measured (+1 discarded) per case, interleaved; 50 clients; keyspace {args.keyspace}",
        "",
        *table_lines(rows, first_column),
    ]
    text = "\n".join(lines) + "\n"
    out = Path(args.out or ROOT / "bench" / "results" / default_name)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()

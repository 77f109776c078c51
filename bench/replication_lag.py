#!/usr/bin/env python3
"""Replication lag of a read region under write load: a control plane and two `tern node`
processes (mad primary, ams replica, one worker thread each), a database with the plan's
command rate lifted, `redis-benchmark` SETs on the primary while the replica's INFO
replication is polled and probe keys are timed from write to visibility on the replica.
Also times single SETs on the primary and forwarded by the replica (read-your-writes).

    python3 bench/replication_lag.py --requests 1000000
    python3 bench/replication_lag.py --full-copy      # add the read region after 1M SETs

Needs redis-benchmark and redis-py; uses target/debug/tern unless TERN is set.
"""

import argparse, glob, json, os, re, sqlite3, subprocess, tempfile, threading, time
import redis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TERN = os.environ.get("TERN", os.path.join(ROOT, "target", "debug", "tern"))
SECRET = "bench-secret"


def pct(values, q):
    return values[min(len(values) - 1, int(q * len(values)))]


def start(d):
    """Control plane and the mad and ams nodes; returns (processes, env with URL and token)."""
    cp = subprocess.Popen([TERN, "control-plane", "--data-dir", d + "/cp", "--listen", "127.0.0.1:0",
                           "--cluster-secret", SECRET], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    env = dict(os.environ)
    for line in cp.stdout:
        m = re.match(r"export (TERN_API_URL|TERN_API_TOKEN)=(\S+)", line.strip())
        if m:
            env[m.group(1)] = m.group(2)
        if "TERN_API_TOKEN" in env and "TERN_API_URL" in env:
            break
    procs = [cp]
    for region in ["mad", "ams"]:
        ready = f"{d}/{region}.addr"
        procs.append(subprocess.Popen(
            [TERN, "node", "--region", region, "--redis-addr", "127.0.0.1:0", "--threads", "1", "--data-dir",
             f"{d}/{region}", "--control-plane", env["TERN_API_URL"], "--cluster-secret", SECRET, "--ready-file", ready],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        while not (os.path.exists(ready) and open(ready).read()):
            time.sleep(0.1)
    time.sleep(1.5)
    # The benchmark exceeds every plan's command rate: lift payg's for it.
    con = sqlite3.connect(glob.glob(d + "/cp/*.db")[0])
    con.execute("UPDATE plans SET max_commands_per_second = 0 WHERE name = 'payg'")
    con.commit()
    con.close()
    return procs, env


def tern(env, *args):
    return subprocess.run([TERN, *args], env=env, capture_output=True, text=True)


def wait_replica_ready(env):
    while True:
        db = json.loads(tern(env, "redis", "status", "b", "--json").stdout)
        if [r for r in db["regions"] if r["region"] == "ams"][0]["status"] == "ready":
            return
        time.sleep(0.2)


def client(addr, pw):
    host, port = addr.rsplit(":", 1)
    return redis.Redis(host=host, port=int(port), password=pw)


def benchmark(addr, pw, requests, keyspace, extra=()):
    host, port = addr.rsplit(":", 1)
    out = subprocess.run(["redis-benchmark", "-h", host, "-p", port, "-a", pw, "-t", "set", "-n", str(requests),
                          "-c", "50", "-P", "16", "-r", str(keyspace), "-q", *extra], capture_output=True, text=True)
    found = re.findall(r"SET: ([0-9.]+) requests per second, p50=([0-9.]+) msec", out.stdout)
    return f"{found[-1][0]} SET/s, p50 {found[-1][1]} ms" if found else out.stderr[-300:]


def timed_sets(conn, n=300):
    ts = []
    for i in range(n):
        t = time.perf_counter()
        conn.set(f"fw:{i}", i)
        ts.append(time.perf_counter() - t)
    ts.sort()
    return f"p50 {1000 * pct(ts, .5):.2f} ms p99 {1000 * pct(ts, .99):.2f} ms"


def under_load(env, pri, rep, primary, pw, requests):
    print("SET on the primary:", timed_sets(pri), "| forwarded by the replica:", timed_sets(rep))
    lags, probes, stop = [], [], threading.Event()

    def poll():
        while not stop.is_set():
            lags.append(rep.info("replication")["tern_replication_lag_records"])
            time.sleep(0.02)

    def probe():
        n = 0
        while not stop.is_set():
            n += 1
            pri.set(f"probe:{n}", "x")
            t = time.perf_counter()
            while rep.get(f"probe:{n}") is None and time.perf_counter() - t < 10:
                time.sleep(0.001)
            probes.append(time.perf_counter() - t)
            time.sleep(0.05)

    threads = [threading.Thread(target=poll), threading.Thread(target=probe)]
    for t in threads:
        t.start()
    print("benchmark on the primary:", benchmark(primary, pw, requests, 100000))
    ended = time.time()
    target = int(pri.info("replication")["master_repl_offset"])
    while int(rep.info("replication")["slave_repl_offset"]) < target:
        time.sleep(0.005)
    print(f"replica caught up {1000 * (time.time() - ended):.0f} ms after the benchmark ended")
    stop.set()
    for t in threads:
        t.join()
    lags.sort()
    probes.sort()
    print(f"lag in records (INFO every 20 ms): p50 {pct(lags, .5)} p99 {pct(lags, .99)} max {lags[-1]}")
    print(f"write-to-visible on the replica ({len(probes)} probes): p50 {1000 * pct(probes, .5):.1f} ms "
          f"p99 {1000 * pct(probes, .99):.1f} ms max {1000 * probes[-1]:.1f} ms")


def full_copy(env, pri, primary, pw):
    print("fill:", benchmark(primary, pw, 1000000, 1000000, ["-d", "100"]))
    print("primary keys", pri.dbsize(), "used_memory", pri.info("memory")["used_memory_human"])
    pauses, stop = [], threading.Event()

    def ping():
        while not stop.is_set():
            t = time.perf_counter()
            pri.get("key:000000000001")
            pauses.append(time.perf_counter() - t)
            time.sleep(0.002)

    th = threading.Thread(target=ping)
    th.start()
    added = time.time()
    tern(env, "redis", "update", "b", "--add-read-regions", "ams")
    wait_replica_ready(env)
    print(f"replica ready {time.time() - added:.1f} s after the read region was added (reconcile and "
          "heartbeat periods of 1 s included)")
    stop.set()
    th.join()
    pauses.sort()
    print(f"primary GET latency meanwhile: p50 {1000 * pct(pauses, .5):.2f} ms p99 {1000 * pct(pauses, .99):.2f} ms "
          f"max {1000 * pauses[-1]:.2f} ms")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1000000)
    ap.add_argument("--full-copy", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tern-repl-bench-") as d:
        procs, env = start(d)
        try:
            replicas = "--no-replicas" if args.full_copy else "--replica-regions=ams"
            db = json.loads(tern(env, "redis", "create", "--name", "b", "--region", "mad", "--plan", "payg",
                                 replicas, "--json").stdout)
            pw = db["password"]
            primary, replica = open(f"{d}/mad.addr").read(), open(f"{d}/ams.addr").read()
            pri = client(primary, pw)
            if args.full_copy:
                full_copy(env, pri, primary, pw)
            else:
                wait_replica_ready(env)
                under_load(env, pri, client(replica, pw), primary, pw, args.requests)
        finally:
            for p in procs:
                p.kill()


if __name__ == "__main__":
    main()

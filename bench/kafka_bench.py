#!/usr/bin/env python3
"""Kafka throughput and latency benchmark: tern vs Tansu vs librdkafka's mock broker vs the disk.

Every configuration runs once per round and rounds are interleaved, so slow phases of the
shared machine hit every target alike; the report gives medians and min-max per case, the
server's CPU-seconds per GB, and the CPU that other processes used meanwhile (the load).

Cases (1 KiB records, one partition, confluent-kafka with default settings unless noted):
  produce acks=1     MB/s of records from the first produce() to the last delivery
  produce acks=all   the same with acks=all (tern fsyncs before acknowledging)
  consume            MB/s reading back what the acks=1 run wrote (default consumer settings)
  latency            p50/p99 of delivery latency at half the median acks=1 (acks=all) maximum,
                     linger.ms=1 (librdkafka's default linger of 5 ms would dominate)
  latency-c          the same measured by a C client (librdkafka through the rdkafka crate,
                     crates/kafka-client-tests/examples/produce_latency.rs), every record
                     timed, at half of the maximum rate that client reaches against the target
  disk               dd: 1 MiB blocks with oflag=dsync (synced sequential), one fdatasync at
                     the end, and the page cache alone
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = Path(__file__).resolve().parents[1]
RECORD_BYTES = 1024
SAMPLE_EVERY = 20
CLK_TCK = os.sysconf("SC_CLK_TCK")
USER, PASSWORD = "bench", "bench-secret"


# ---------------------------------------------------------------- CPU and load accounting

def proc_cpu_s(pid):
    """User + system CPU seconds of a process and all its threads."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def self_cpu_s():
    """CPU of this process and of its finished children (the latency tool)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def machine_cpu_s():
    """(busy, accounted) CPU seconds of the whole machine, all cores; accounted includes idle.
    On this shared VM, wall time × cores minus accounted time is time the VM did not run at
    all (not reported as steal): a stall that slows every target alike."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / CLK_TCK, sum(values[:8]) / CLK_TCK


class Meter:
    """Wall time, server CPU, client CPU and the CPU of everything else over one measurement."""

    def __init__(self, server_pid):
        self.pid = server_pid
        self.start = (time.perf_counter(), proc_cpu_s(server_pid), self_cpu_s(), *machine_cpu_s())

    def stop(self, nbytes):
        end = (time.perf_counter(), proc_cpu_s(self.pid), self_cpu_s(), *machine_cpu_s())
        wall, server, client, busy, accounted = (e - s for e, s in zip(end, self.start))
        gb = nbytes / 1e9
        return {
            "mb_s": nbytes / 1e6 / wall,
            "seconds": wall,
            "server_cpu_s_per_gb": server / gb if self.pid else None,
            "client_cpu_s_per_gb": client / gb,
            # Cores busy on other processes on average (other helpers compiling, etc.).
            "foreign_cores": max(0.0, busy - server - client) / wall,
            # Cores' worth of time the VM was not running at all.
            "stalled_cores": max(0.0, wall * os.cpu_count() - accounted) / wall,
        }


# ---------------------------------------------------------------- targets

class Target:
    name = "?"
    pid = None
    durable = False
    # Whether everything produced can be read back (the mock keeps only the last few thousand).
    keeps_all = True

    def conf(self):
        raise NotImplementedError

    def stop(self):
        pass


class Tern(Target):
    durable = True

    def __init__(self, name, binary, workdir):
        self.name = name
        self.dir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=workdir))
        ready = self.dir / "kafka-ready"
        args = [binary, "node", "--redis-addr", "127.0.0.1:0", "--kafka-addr", "127.0.0.1:0",
                "--kafka-ready-file", str(ready), "--data-dir", str(self.dir / "data"),
                "--kafka-cluster", f"bench:{USER}:{PASSWORD}"]
        self.log = open(self.dir / "node.log", "w")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        deadline = time.time() + 30
        while not ready.exists() or not ready.read_text():
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"{name} did not start: {(self.dir / 'node.log').read_text()}")
            time.sleep(0.02)
        self.bootstrap = ready.read_text().strip()

    def conf(self):
        return {"bootstrap.servers": self.bootstrap, "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanisms": "PLAIN", "sasl.username": USER, "sasl.password": PASSWORD}

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Tansu(Target):
    """Tansu with one storage engine (`memory` or `sqlite`), no authentication."""

    def __init__(self, engine, binary, workdir, port):
        self.name = f"tansu-{engine}"
        self.dir = Path(tempfile.mkdtemp(prefix=f"{self.name}-", dir=workdir))
        self.durable = engine != "memory"
        # Tansu reads the SQLite path relative to its working folder.
        storage = "memory://tansu/" if engine == "memory" else "sqlite://tansu.db"
        self.bootstrap = f"127.0.0.1:{port}"
        args = [str(Path(binary).resolve()), "broker", "--storage-engine", storage,
                "--listener-url", f"tcp://127.0.0.1:{port}",
                "--advertised-listener-url", f"tcp://127.0.0.1:{port}"]
        self.log = open(self.dir / "tansu.log", "w")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, cwd=self.dir,
                                     env={**os.environ, "RUST_LOG": "warn"})
        self.pid = self.proc.pid
        wait_for_port(port, self.proc, self.dir / "tansu.log")

    def conf(self):
        return {"bootstrap.servers": self.bootstrap}

    stop = Tern.stop


class Mock(Target):
    """librdkafka's in-process mock broker: the client-side ceiling (no server process)."""

    name = "rdkafka-mock"
    keeps_all = False

    def __init__(self):
        self.owner = Producer({"test.mock.num.brokers": 1})
        broker = next(iter(self.owner.list_topics(timeout=10).brokers.values()))
        self.bootstrap = f"{broker.host}:{broker.port}"

    def conf(self):
        return {"bootstrap.servers": self.bootstrap}

    def stop(self):
        self.owner.flush(1)
        self.owner = None


def wait_for_port(port, proc, log):
    import socket
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {Path(log).read_text()[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}: {Path(log).read_text()[-2000:]}")


# ---------------------------------------------------------------- cases

class DeliveryErrors:
    def __init__(self):
        self.count = 0
        self.first = None

    def __call__(self, err, _msg):
        if err is not None:
            self.count += 1
            self.first = self.first or str(err)


def produce_all(producer, topic, count, value):
    """Produces `count` records as fast as the client queue takes them."""
    poll_every = 1024
    for i in range(count):
        while True:
            try:
                producer.produce(topic, value, partition=0)
                break
            except BufferError:
                producer.poll(0.0005)
        if i % poll_every == 0:
            producer.poll(0)
    left = producer.flush(120)
    if left:
        raise RuntimeError(f"{left} records not delivered in 120 s")


def create_topic(target, topic):
    """One partition, replication 1 (Tansu creates no topic on its own). An error here shows up
    as delivery errors in the case itself."""
    admin = AdminClient(target.conf())  # kept alive until the answers came
    futures = admin.create_topics([NewTopic(topic, 1, 1)])
    for future in futures.values():
        try:
            future.result(15)
        except Exception as e:  # already there (auto-created) or not supported: the case tells
            print(f"# create {topic} on {target.name}: {e}", file=sys.stderr)


def warm_up(target, topic, acks):
    """Creates the topic and connects, outside the measured time."""
    create_topic(target, topic)
    producer = Producer({**target.conf(), "acks": acks})
    producer.produce(topic, b"w" * RECORD_BYTES, partition=0)
    if producer.flush(30):
        raise RuntimeError(f"warm-up record to {target.name}/{topic} not delivered")
    return producer


def case_produce(target, topic, count, acks):
    errors = DeliveryErrors()
    producer = Producer({**target.conf(), "acks": acks, "delivery.report.only.error": True,
                         "on_delivery": errors})
    warm = warm_up(target, topic, acks)
    del warm
    producer.list_topics(topic, timeout=10)
    value = os.urandom(RECORD_BYTES)
    meter = Meter(target.pid)
    produce_all(producer, topic, count, value)
    result = meter.stop(count * RECORD_BYTES)
    if errors.count:
        raise RuntimeError(f"{errors.count} delivery errors, first: {errors.first}")
    return result


def case_consume(target, topic, count):
    """Reads the `count` records after the warm-up record; timed from the first record."""
    consumer = Consumer({**target.conf(), "group.id": f"bench-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    seen, meter, deadline = 0, None, time.time() + 120
    wanted = count + 1  # the warm-up record comes first
    while seen < wanted:
        if time.time() > deadline:
            raise RuntimeError(f"consumed {seen} of {wanted} records in 120 s")
        # Never ask for more than is left: consume() waits its whole timeout for a full batch.
        batch = consumer.consume(num_messages=min(10000, wanted - seen), timeout=1.0)
        for message in batch:
            if message.error():
                raise RuntimeError(f"consume error: {message.error()}")
        if batch and meter is None:
            meter = Meter(target.pid)
            seen_at_start = seen + len(batch)
        seen += len(batch)
    result = meter.stop((seen - seen_at_start) * RECORD_BYTES)
    consumer.close()
    return result


LATENCY_TOOL = ROOT / "target" / "release" / "examples" / "produce_latency"


def latency_tool(target, topic, acks, rate, seconds):
    """Runs the librdkafka latency tool (crates/kafka-client-tests/examples/produce_latency.rs),
    which times every record; `rate` 0 sends as fast as it can. Returns its JSON line."""
    conf = target.conf()
    cmd = [str(LATENCY_TOOL), "--bootstrap", conf["bootstrap.servers"], "--topic", topic,
           "--acks", "all" if acks == -1 else str(acks), "--rate", str(int(rate)), "--seconds", str(seconds)]
    if "sasl.username" in conf:
        cmd += ["--sasl", f"{conf['sasl.username']}:{conf['sasl.password']}", "--mechanism", conf["sasl.mechanisms"]]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip()[-300:])
    return json.loads(out.stdout)


def settle_disk():
    """Writes back what earlier cases left dirty in the page cache (`sync`), so a latency case
    does not pay for the previous case's writeback: each case starts from the same disk state,
    whichever target ran before it."""
    os.sync()
    time.sleep(1)


def case_latency_rust(target, acks, seconds):
    """Half-load latency with the librdkafka tool: its own maximum rate against this target
    first (sustained for the same duration), then p50/p99 of every record at half of it."""
    settle_disk()
    # The maximum is what the target sustains for as long as the measured run lasts: a short
    # burst is absorbed by the page cache and overstates it (half of a 3 s burst rate could not
    # be sustained for 10 s on this machine).
    peak = latency_tool(target, f"lmax-{uuid.uuid4().hex[:6]}", acks, 0, seconds)["achieved_rec_s"]
    settle_disk()
    meter = Meter(target.pid)
    result = latency_tool(target, f"lhalf-{uuid.uuid4().hex[:6]}", acks, peak / 2, seconds)
    out = meter.stop(result["records"] * RECORD_BYTES)
    out.update({k: result[k] for k in ("rate_rec_s", "p50_ms", "p99_ms", "max_ms")})
    out["peak_rec_s"] = peak
    return out


def case_latency(target, topic, acks, rate, seconds):
    """Delivery latency (librdkafka's own produce() → acknowledgement time) at `rate` rec/s.
    One record in `SAMPLE_EVERY` carries a callback: a Python call per record would make the
    client, not the broker, the bottleneck."""
    settle_disk()
    latencies, errors = [], DeliveryErrors()

    def on_delivery(err, msg):
        if err is None:
            latencies.append(msg.latency())
        else:
            errors(err, msg)

    producer = Producer({**target.conf(), "acks": acks, "linger.ms": 1})
    warm_up(target, topic, acks)
    value = os.urandom(RECORD_BYTES)
    meter = Meter(target.pid)
    start = time.perf_counter()
    sent, total = 0, int(rate * seconds)
    while sent < total:
        due = min(total, int((time.perf_counter() - start) * rate))
        while sent < due:
            try:
                if sent % SAMPLE_EVERY == 0:
                    producer.produce(topic, value, partition=0, on_delivery=on_delivery)
                else:
                    producer.produce(topic, value, partition=0)
            except BufferError:  # the client's queue is full: the rate is not kept up with
                producer.poll(0.0005)
                continue
            sent += 1
        producer.poll(0.0002)
    producer.flush(60)
    result = meter.stop(total * RECORD_BYTES)
    if errors.count or len(latencies) < total // SAMPLE_EVERY:
        raise RuntimeError(f"{len(latencies)} of {total // SAMPLE_EVERY} samples acknowledged, errors: {errors.first}")
    latencies.sort()
    result.update({
        "rate_rec_s": rate,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "max_ms": latencies[-1] * 1000,
    })
    return result


def case_dd(workdir, mode, mib):
    path = Path(workdir) / "dd.bin"
    flags = {"dsync": ["oflag=dsync"], "fdatasync": ["conv=fdatasync"], "cache": []}[mode]
    meter = Meter(None)
    subprocess.run(["dd", "if=/dev/zero", f"of={path}", "bs=1M", f"count={mib}", *flags],
                   check=True, capture_output=True)
    result = meter.stop(mib * 1024 * 1024)
    path.unlink()
    return result


# ---------------------------------------------------------------- driver

def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tern", action="append", default=[], metavar="NAME=BINARY",
                        help="a tern binary to measure (repeatable, for before/after runs)")
    parser.add_argument("--tansu", default=str(ROOT / "tools" / "bin" / "tansu"),
                        help="Tansu binary; skipped when absent")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--records", type=int, default=300_000, help="records per produce run")
    parser.add_argument("--latency-seconds", type=float, default=5.0)
    parser.add_argument("--dd-mib", type=int, default=512)
    parser.add_argument("--cases", default="disk,produce1,produceall,consume,latency")
    parser.add_argument("--no-mock", action="store_true")
    parser.add_argument("--workdir", default="/tmp/kafka-bench")
    parser.add_argument("--json", help="write every measurement to this file")
    args = parser.parse_args()
    cases = set(args.cases.split(","))
    terns = [tuple(spec.split("=", 1)) for spec in args.tern] or [("tern", str(ROOT / "target/release/tern"))]
    Path(args.workdir).mkdir(parents=True, exist_ok=True)

    makers = [(name, (lambda n=name, b=binary: Tern(n, b, args.workdir))) for name, binary in terns]
    if Path(args.tansu).exists():
        makers += [("tansu-memory", lambda: Tansu("memory", args.tansu, args.workdir, 19092)),
                   ("tansu-sqlite", lambda: Tansu("sqlite", args.tansu, args.workdir, 19093))]
    else:
        print(f"# Tansu not found at {args.tansu}: skipped", file=sys.stderr)
    if not args.no_mock:
        makers.append(("rdkafka-mock", Mock))

    results = []  # (case, target, round, result)

    def record(case, target, round_no, fn):
        try:
            result = fn()
        except Exception as e:  # a failed case is reported, the run goes on
            result = {"error": str(e)[:300]}
        results.append((case, target, round_no, result))
        shown = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in result.items()}
        print(f"round {round_no} {case:<16} {target:<14} {shown}", flush=True)

    for round_no in range(args.rounds):
        if "disk" in cases:
            for mode in ("dsync", "fdatasync", "cache"):
                record(f"dd {mode}", "disk", round_no, lambda m=mode: case_dd(args.workdir, m, args.dd_mib))
        for name, make in makers:
            target = make()
            try:
                tag = uuid.uuid4().hex[:6]
                if "produce1" in cases or "consume" in cases:
                    record("produce acks=1", name, round_no,
                           lambda: case_produce(target, f"p1-{tag}", args.records, 1))
                if "consume" in cases and target.keeps_all:
                    record("consume", name, round_no, lambda: case_consume(target, f"p1-{tag}", args.records))
                if "produceall" in cases and target.durable:
                    record("produce acks=all", name, round_no,
                           lambda: case_produce(target, f"pa-{tag}", args.records, -1))
            finally:
                target.stop()

    if "latency" in cases:
        for round_no in range(max(1, args.rounds // 2)):
            for name, make in makers:
                target = make()
                try:
                    for case, acks in (("produce acks=1", 1), ("produce acks=all", -1)):
                        peak = median_of(results, case, name, "mb_s")
                        if peak is None or (acks == -1 and not target.durable):
                            continue
                        rate = peak * 1e6 / RECORD_BYTES / 2
                        label = 'all' if acks == -1 else 1
                        record(f"latency acks={label}", name, round_no,
                               lambda a=acks, r=rate: case_latency(target, f"l{a}-{uuid.uuid4().hex[:6]}", a, r,
                                                                   args.latency_seconds))
                        if LATENCY_TOOL.exists():
                            record(f"latency-c acks={label}", name, round_no,
                                   lambda a=acks: case_latency_rust(target, a, args.latency_seconds))
                finally:
                    target.stop()

    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    print()
    print(summary(results))


def median_of(results, case, target, key):
    values = [r[key] for c, t, _, r in results if c == case and t == target and key in r]
    return statistics.median(values) if values else None


def summary(results):
    """A Markdown table: one line per (case, target), medians and min-max."""
    keys = []
    for case, target, _, _ in results:
        if (case, target) not in keys:
            keys.append((case, target))
    lines = ["| case | target | MB/s median (min-max) | server CPU-s/GB | client CPU-s/GB | p50 / p99 ms | "
             "other load (cores) | VM stalled (cores) | runs |", "|---|---|---|---|---|---|---|---|---|"]
    for case, target in keys:
        rows = [r for c, t, _, r in results if c == case and t == target]
        ok = [r for r in rows if "error" not in r]
        errors = len(rows) - len(ok)
        if not ok:
            lines.append(f"| {case} | {target} | failed: {rows[0]['error']} | | | | | | {len(rows)} |")
            continue

        def med(key, fmt="{:.0f}"):
            values = [r[key] for r in ok if r.get(key) is not None]
            return fmt.format(statistics.median(values)) if values else "-"

        mbs = [r["mb_s"] for r in ok]
        latency = f"{med('p50_ms', '{:.2f}')} / {med('p99_ms', '{:.2f}')}" if "p99_ms" in ok[0] else "-"
        lines.append(
            f"| {case} | {target} | {statistics.median(mbs):.0f} ({min(mbs):.0f}-{max(mbs):.0f}) | "
            f"{med('server_cpu_s_per_gb', '{:.2f}')} | {med('client_cpu_s_per_gb', '{:.2f}')} | {latency} | "
            f"{med('foreign_cores', '{:.2f}')} | {med('stalled_cores', '{:.2f}')} | {len(ok)}{f' ({errors} failed)' if errors else ''} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()

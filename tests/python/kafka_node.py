"""A real `tern node` serving Kafka on a free loopback port, for the Kafka tests."""

import os
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TERN_BIN = os.environ.get("TERN_BIN", str(ROOT / "target" / "debug" / "tern"))


class KafkaNode:
    """`clusters` maps a cluster id to (user, password); data survives `restart()`. With
    `keep_port`, a restarted node listens on the port of the first start, so clients living
    across restarts reconnect to it; `extra_args` are added to `tern node`'s flags."""

    def __init__(self, clusters=None, data_dir=None, keep_port=False, extra_args=()):
        self.clusters = clusters or {"c1": ("alice", "alice-secret")}
        self.keep_port = keep_port
        self.extra_args = list(extra_args)
        self.kafka_addr = "127.0.0.1:0"
        self.tmp = tempfile.TemporaryDirectory()
        self.data_dir = data_dir or str(Path(self.tmp.name) / "data")
        self.log_path = Path(self.tmp.name) / "node.log"
        self.start()

    def start(self):
        ready = Path(self.tmp.name) / "kafka-ready"
        if ready.exists():
            ready.unlink()
        args = [TERN_BIN, "node", "--redis-addr", "127.0.0.1:0", "--kafka-addr", self.kafka_addr,
                "--kafka-ready-file", str(ready), "--data-dir", self.data_dir] + self.extra_args
        for cluster, (user, password) in self.clusters.items():
            args += ["--kafka-cluster", f"{cluster}:{user}:{password}"]
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while not ready.exists() or not ready.read_text():
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"tern node did not start: {self.log_path.read_text()}")
            time.sleep(0.02)
        self.bootstrap = ready.read_text().strip()
        if self.keep_port:
            self.kafka_addr = self.bootstrap

    def config(self, cluster="c1", mechanism="SCRAM-SHA-256", **extra):
        user, password = self.clusters[cluster]
        conf = {
            "bootstrap.servers": self.bootstrap,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanisms": mechanism,
            "sasl.username": user,
            "sasl.password": password,
        }
        conf.update(extra)
        return conf

    def kcat_args(self, cluster="c1", mechanism="SCRAM-SHA-256"):
        user, password = self.clusters[cluster]
        return ["kcat", "-b", self.bootstrap, "-X", "security.protocol=SASL_PLAINTEXT",
                "-X", f"sasl.mechanisms={mechanism}", "-X", f"sasl.username={user}",
                "-X", f"sasl.password={password}"]

    def alive(self):
        return self.proc.poll() is None

    def kill(self):
        self.proc.kill()
        self.proc.wait(5)
        self.log.close()

    def restart(self):
        self.stop_process()
        self.start()

    def stop_process(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()

    def stop(self):
        self.stop_process()
        self.tmp.cleanup()

"""Sidekiq (Debian's ruby-sidekiq) with tern as its Redis: 1,000 jobs including scheduled ones
and jobs that fail once and are retried, run by a real Sidekiq process; every job runs exactly
once (retried ones twice, succeeding once) and no scheduled job runs early."""

import os
import subprocess
from pathlib import Path

from conftest import PASSWORD_A, wait_until

APP_DIR = Path(__file__).parent / "sidekiq_app"


def test_thousand_jobs_scheduled_and_retried(node, tmp_path):
    r = node.client(decode_responses=True)
    r.flushdb()
    env = dict(os.environ, TERN_REDIS_URL=f"redis://:{PASSWORD_A}@{node.host}:{node.port}/0")
    enqueue = subprocess.run(["ruby", str(APP_DIR / "enqueue.rb")], env=env, cwd=APP_DIR, capture_output=True,
                             text=True, timeout=60)
    assert enqueue.returncode == 0, enqueue.stderr[-2000:]
    assert r.llen("queue:default") == 920
    assert r.zcard("schedule") == 100
    # Sidekiq logs every job (and Debian's redis gem warns on every call): to a file, since an
    # unread pipe would fill up and stall the worker.
    log = open(tmp_path / "sidekiq.log", "w")
    worker = subprocess.Popen(["sidekiq", "-r", str(APP_DIR / "worker.rb"), "-c", "5", "-t", "5"], env=env,
                              cwd=APP_DIR, stdout=log, stderr=subprocess.STDOUT)
    try:
        done = wait_until(lambda: int(r.get("runs") or 0) >= 1000 and r.scard("flaky_done") >= 20, timeout=90)
        assert done, f"runs={r.get('runs')} flaky_done={r.scard('flaky_done')}"
        # A little longer, to catch a job that would run twice.
        wait_until(lambda: False, timeout=2)
        runs = r.hgetall("runs_by_id")
        assert len(runs) == 1000 and set(runs.values()) == {"1"}
        assert r.get("runs") == "1000"
        assert r.smembers("early") == set()
        assert set(r.hgetall("flaky_attempts").values()) == {"2"}
        assert r.zcard("schedule") == 0 and r.zcard("retry") == 0 and r.zcard("dead") == 0
    finally:
        worker.terminate()
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()

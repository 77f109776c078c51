"""Celery with tern as both broker and result backend: 1,000 tasks run by a real worker
process, every result correct."""

import os
import subprocess
import sys
from pathlib import Path


from conftest import PASSWORD_A

APP_DIR = Path(__file__).parent / "celery_app"


def test_thousand_tasks_with_results(node):
    url = f"redis://default:{PASSWORD_A}@{node.host}:{node.port}/0"
    node.client().flushdb()
    env = dict(os.environ, TERN_CELERY_URL=url, PYTHONPATH=str(APP_DIR))
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tern_tasks", "worker", "-c", "4", "--loglevel=warning", "--without-gossip", "--without-mingle"],
        env=env, cwd=APP_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        producer = subprocess.run(
            [sys.executable, str(APP_DIR / "produce.py")], env=env, cwd=APP_DIR, capture_output=True, text=True, timeout=90
        )
        assert producer.returncode == 0, producer.stderr[-2000:]
        assert producer.stdout.strip() == "ok 1000"
    finally:
        worker.terminate()
        try:
            worker.wait(10)
        except subprocess.TimeoutExpired:
            worker.kill()

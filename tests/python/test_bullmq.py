"""BullMQ (the Python package, which ships the same Lua scripts as the npm one) against a real
tern node: delayed, prioritised and failing-then-retried jobs all end as designed."""

import asyncio
import time

import pytest

bullmq = pytest.importorskip("bullmq")

from conftest import PASSWORD_A  # noqa: E402


def test_jobs_complete_fail_and_wait_as_designed(node):
    conn = f"redis://default:{PASSWORD_A}@{node.host}:{node.port}"

    async def run():
        queue = bullmq.Queue("tern-test-jobs", {"connection": conn})
        await queue.obliterate({"force": True})
        added_at = {}
        started_at = {}
        completed, failed_events = [], []

        async def process(job, token):
            started_at[job.data["n"]] = time.time()
            if job.data["fail"]:
                raise Exception("boom")
            return job.data["n"] * 2

        worker = bullmq.Worker("tern-test-jobs", process, {"connection": conn, "concurrency": 20})
        worker.on("completed", lambda job, result: completed.append((job.data["n"], result)))
        worker.on("failed", lambda job, err: failed_events.append(job.data["n"]))
        for i in range(200):
            opts = {"attempts": 2, "priority": 1 + i % 3}
            if i % 40 == 0:
                opts["delay"] = 500
            added_at[i] = time.time()
            await queue.add("job", {"n": i, "fail": i % 50 == 0}, opts)
        deadline = time.time() + 30
        while len(completed) + len(set(failed_events)) < 200 or len(failed_events) < 8:
            assert time.time() < deadline, (len(completed), failed_events)
            await asyncio.sleep(0.05)
        counts = await queue.getJobCounts("completed", "failed", "waiting", "delayed", "active")
        await worker.close()
        await queue.close()
        return added_at, started_at, completed, failed_events, counts

    added_at, started_at, completed, failed_events, counts = asyncio.run(run())
    failing = {0, 50, 100, 150}
    assert sorted(n for n, _ in completed) == sorted(set(range(200)) - failing)
    assert all(result == n * 2 for n, result in completed)
    # Each failing job is tried twice (attempts=2), then stays failed.
    assert sorted(failed_events) == sorted(list(failing) * 2)
    assert counts == {"completed": 196, "failed": 4, "waiting": 0, "delayed": 0, "active": 0}
    # Delayed jobs never start before their delay.
    for n in range(0, 200, 40):
        assert started_at[n] - added_at[n] >= 0.45, n

"""BullMQ (the Python package, which ships the same Lua scripts as the npm one) against a real
tern node: 2,000 jobs (delayed, prioritised and failing-then-retried ones) processed by two
workers all end as designed, and the events stream reports every completion."""

import asyncio
import time

import bullmq

from conftest import PASSWORD_A

JOBS = 2000
FAILING = set(range(0, JOBS, 50))


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

        events = bullmq.QueueEvents("tern-test-jobs", {"connection": conn})
        completed_events = []
        events.on("completed", lambda event, *rest: completed_events.append(event["jobId"]))
        workers = [bullmq.Worker("tern-test-jobs", process, {"connection": conn, "concurrency": 10}) for _ in range(2)]
        for worker in workers:
            worker.on("completed", lambda job, result: completed.append((job.data["n"], result)))
            worker.on("failed", lambda job, err: failed_events.append(job.data["n"]))
        for i in range(JOBS):
            opts = {"attempts": 2, "priority": 1 + i % 3}
            if i % 40 == 0:
                opts["delay"] = 500
            added_at[i] = time.time()
            await queue.add("job", {"n": i, "fail": i in FAILING}, opts)
        deadline = time.time() + 120
        while len(completed) + len(set(failed_events)) < JOBS or len(failed_events) < 2 * len(FAILING):
            assert time.time() < deadline, (len(completed), failed_events)
            await asyncio.sleep(0.05)
        counts = await queue.getJobCounts("completed", "failed", "waiting", "delayed", "active")
        while len(completed_events) < len(completed) and time.time() < deadline:
            await asyncio.sleep(0.05)
        for worker in workers:
            await worker.close()
        await events.close()
        await queue.close()
        return added_at, started_at, completed, failed_events, counts, completed_events

    added_at, started_at, completed, failed_events, counts, completed_events = asyncio.run(run())
    assert sorted(n for n, _ in completed) == sorted(set(range(JOBS)) - FAILING)
    assert all(result == n * 2 for n, result in completed)
    # Each failing job is tried twice (attempts=2), then stays failed.
    assert sorted(failed_events) == sorted(list(FAILING) * 2)
    done = JOBS - len(FAILING)
    assert counts == {"completed": done, "failed": len(FAILING), "waiting": 0, "delayed": 0, "active": 0}
    assert len(set(completed_events)) == done
    # Delayed jobs never start before their delay.
    for n in range(0, JOBS, 40):
        assert started_at[n] - added_at[n] >= 0.45, n

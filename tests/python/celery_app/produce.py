"""Sends 1,000 `add` tasks and checks every result (run in its own process by the test, so
the result backend's connections end with it)."""

import time

from tern_tasks import add

results = [add.delay(i, i) for i in range(1000)]
deadline = time.time() + 60
values = [r.get(timeout=max(1, deadline - time.time())) for r in results]
assert values == [2 * i for i in range(1000)], values[:10]
print("ok", len(values))

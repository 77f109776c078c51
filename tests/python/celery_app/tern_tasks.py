"""A Celery app whose broker and result backend are a tern database (URL from TERN_CELERY_URL)."""

import os

from celery import Celery

url = os.environ["TERN_CELERY_URL"]
app = Celery("tern_tasks", broker=url, backend=url)
app.conf.broker_connection_retry_on_startup = True


@app.task
def add(x, y):
    return x + y

"""The Celery app, its queues and routing.

Queues: ``executor`` (flowable logic: many small, fast messages), ``default`` (runnable
tasks) and one queue per ``workerGroup`` key (``wg.<key>``), created on demand.
"""

from __future__ import annotations

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator.settings")

app = Celery("trellis")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("executor"), Queue("default"))
app.conf.task_default_queue = "default"
app.conf.task_routes = {"executions.executor.*": {"queue": "executor"}}
app.conf.worker_prefetch_multiplier = 1
app.conf.task_acks_late = True
app.conf.task_reject_on_worker_lost = True
app.conf.broker_connection_retry_on_startup = True
if app.conf.broker_url and str(app.conf.broker_url).startswith("filesystem://"):
    # The filesystem transport has no fanout exchanges: no remote control or events.
    app.conf.worker_enable_remote_control = False
    app.conf.worker_send_task_events = False
app.autodiscover_tasks(["executions"], related_name="executor")
app.autodiscover_tasks(["executions"], related_name="worker")


def worker_group_queue(key: str | None) -> str:
    """Queue name for a task's ``workerGroup.key`` (``default`` when unset)."""
    return f"wg.{key}" if key else "default"


# The sweeper recovers lost attempts and wakes due executions (DatabaseScheduler syncs this).
app.conf.beat_schedule = {
    "trellis-sweep": {
        "task": "executions.executor.sweep",
        "schedule": float(os.environ.get("TRELLIS_SWEEP_SECONDS", "2")),
        "options": {"queue": "executor", "expires": 30},
    },
}

"""The Celery app, its queues and routing.

Queues: ``executor`` (flowable logic: many small, fast messages), ``default`` (runnable
tasks) and one queue per ``workerGroup`` key (``wg.<key>``), created on demand.
"""

from __future__ import annotations

import logging
import logging.config
import os
import sys
from typing import Any

from celery import Celery
from celery.signals import (
    beat_init,
    celeryd_init,
    setup_logging,
    task_prerun,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_shutdown,
)
from django.conf import settings
from kombu import Queue

from plugins.scripts.sandbox import SandboxUnavailable, check_at_start, queues_run_scripts

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
# A lost broker connection (a Redis restart, RabbitMQ's consumer_timeout closing the channel
# of a task running past it) must not stop running tasks: their attempt holds a lease in the
# database and the redelivered message finds it claimed. Celery 6 flips this default.
app.conf.worker_cancel_long_running_tasks_on_connection_loss = False
if app.conf.broker_url and str(app.conf.broker_url).startswith("filesystem://"):
    # The filesystem transport has no fanout exchanges: no remote control or events.
    app.conf.worker_enable_remote_control = False
    app.conf.worker_send_task_events = False
app.autodiscover_tasks(["executions"], related_name="tasks")


@task_prerun.connect(weak=False)
def reconnect_after_database_errors(**_: object) -> None:
    """Drop a database connection that failed in an earlier task if it no longer works.

    Celery's Django fixup keeps connections across tasks (``CELERY_DB_REUSE_MAX``) without
    checking them, so after a database restart a pool process kept its dead connection and
    failed every later task with "connection already closed" (issue 9's chaos suite). Only
    a connection that saw an error is checked: the common path costs nothing.
    """
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        if conn.errors_occurred:
            conn.close_if_unusable_or_obsolete()


@setup_logging.connect(weak=False)
def use_django_logging(loglevel: int | None = None, **_: object) -> None:
    """Celery's processes log through settings.LOGGING (LOG_FORMAT=json included), at the
    more verbose of ``-l`` and LOG_LEVEL, instead of replacing the root logger's handlers
    with Celery's own format (issue 18: every line of every role is JSON when asked)."""
    logging.config.dictConfig(settings.LOGGING)
    root = logging.getLogger()
    if loglevel:
        root.setLevel(min(loglevel, root.level))


@celeryd_init.connect(weak=False)
def json_from_the_start(instance: object = None, **_: object) -> None:
    """LOG_FORMAT=json: the worker prints no startup banner (as ``celery --quiet``; beat has
    no such hook and needs ``--quiet`` on its command line, which ``orchestrator.processes``
    adds), and warnings raised before Celery sets up logging (running as root) are logged."""
    if settings.LOG_FORMAT == "json" and instance is not None:
        instance.quiet = True  # type: ignore[attr-defined]
        logging.config.dictConfig(settings.LOGGING)
        logging.captureWarnings(True)


@worker_init.connect(weak=False)
@worker_process_init.connect(weak=False)
@beat_init.connect(weak=False)
def start_metrics_flushing(**_: object) -> None:
    """Each Celery process (a prefork child too) adds its counters to the database
    (orchestrator/observability/metrics.py)."""
    from orchestrator.observability import metrics  # its model needs Django set up: not at import

    metrics.start_flushing()


@worker_process_shutdown.connect(weak=False)
@worker_shutdown.connect(weak=False)
def flush_metrics(**_: object) -> None:
    from orchestrator.observability import metrics  # as above

    metrics.flush_at_exit()


@celeryd_init.connect(weak=False)
def refuse_unsandboxed_scripts(options: dict[str, Any] | None = None, **_: object) -> None:
    """A worker that may run script tasks proves its sandbox works before it takes any, and
    stops with the reason when none does and TRELLIS_UNSAFE_SCRIPTS=1 is not set (issue 21):
    a missing bwrap then shows at deploy time, not as the first script's failure. Workers of
    the ``executor`` queue alone run no scripts and skip the check."""
    if not queues_run_scripts((options or {}).get("queues")):
        return
    try:
        message = check_at_start()
    except SandboxUnavailable as exc:
        sys.stderr.write(f"trellis worker refuses to start: {exc}\n")
        raise SystemExit(78) from None  # EX_CONFIG: a process manager should not loop
    logging.getLogger("trellis.worker").warning(message)


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

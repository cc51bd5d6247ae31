"""Counters and histograms that every Trellis process records and the web role serves.

Executors, workers and beat run on other hosts than the web role and in prefork pools whose
children come and go, so an in-memory registry (or prometheus-client's multiprocess folder,
which one host's processes share) would not reach ``/metrics``. Each process adds to a small
buffer here instead, and a daemon thread adds the buffer's deltas to ``MetricSample`` rows
every ``TRELLIS_METRICS_FLUSH_SECONDS`` (``INSERT ... ON CONFLICT DO UPDATE SET value =
value + delta``): any number of processes on any number of hosts add to the same rows, and a
restart loses nothing already flushed. Gauges of what is waiting now (queue depths, the
oldest QUEUED attempt) are read from the database at scrape time (``scrape.py``).
docs/architecture.md, "Metrics: counters pushed to the database, gauges read at scrape time".
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from django.conf import settings
from django.db import DatabaseError, connection, transaction

from orchestrator.models import MetricSample

log = logging.getLogger(__name__)

#: Seconds, from a Log task to a long script or a sensor waiting an hour.
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


@dataclass(frozen=True)
class Metric:
    """A pushed metric: its name (counters without ``_total``), help text and label names."""

    name: str
    kind: Literal["counter", "histogram"]
    help: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] = ()


EXECUTIONS_STARTED = Metric(
    "trellis_executions_started", "counter",
    "Executions that started running (first RUNNING), by flow.", ("namespace", "flow"),
)  # fmt: skip
EXECUTIONS_ENDED = Metric(
    "trellis_executions_ended", "counter",
    "Executions that reached a terminal state, by flow and state.",
    ("namespace", "flow", "state"),
)  # fmt: skip
TASK_RUN_DURATION = Metric(
    "trellis_task_run_duration_seconds", "histogram",
    "Duration of runnable task-run attempts on workers, by task type and final state.",
    ("type", "state"), DURATION_BUCKETS,
)  # fmt: skip
ATTEMPTS_RESENT = Metric(
    "trellis_attempts_resent", "counter",
    "QUEUED attempts whose message the sweeper sent again (it may have been lost), by queue.",
    ("queue",),
)  # fmt: skip
ATTEMPTS_LOST = Metric(
    "trellis_attempts_lost", "counter",
    "RUNNING attempts whose lease expired (their worker stopped heartbeating), by queue.",
    ("queue",),
)  # fmt: skip
TRIGGERS_FIRED = Metric(
    "trellis_triggers_fired", "counter",
    "Trigger events that started an execution, by flow and trigger id.",
    ("namespace", "flow", "trigger"),
)  # fmt: skip
TRIGGERS_SKIPPED = Metric(
    "trellis_triggers_skipped", "counter",
    "Trigger events that started nothing, by flow, trigger id and reason (duplicate, error, "
    "conditions, missed, late).",
    ("namespace", "flow", "trigger", "reason"),
)  # fmt: skip
WORKER_HEARTBEATS = Metric(
    "trellis_worker_heartbeats", "counter",
    "Lease renewals by running attempts' heartbeats, by worker host.", ("host",),
)  # fmt: skip
EXECUTIONS_UNLOADABLE = Metric(
    "trellis_executions_unloadable", "counter",
    "Executor tries that could not load an execution's flow (missing plugin, broken "
    "template), by flow.", ("namespace", "flow"),
)  # fmt: skip

PUSHED: tuple[Metric, ...] = (
    EXECUTIONS_STARTED, EXECUTIONS_ENDED, TASK_RUN_DURATION, ATTEMPTS_RESENT, ATTEMPTS_LOST,
    TRIGGERS_FIRED, TRIGGERS_SKIPPED, WORKER_HEARTBEATS, EXECUTIONS_UNLOADABLE,
)  # fmt: skip


def labels_key(labels: dict[str, str]) -> str:
    """The stored form of a label set: JSON with sorted keys (one text per set)."""
    return json.dumps(labels, sort_keys=True, separators=(",", ":"))


def _labels(metric: Metric, values: dict[str, object]) -> dict[str, str]:
    if set(values) != set(metric.labels):
        raise ValueError(f"{metric.name} takes labels {metric.labels}, not {tuple(values)}")
    return {k: str(v) for k, v in values.items()}


class _Buffer:
    """This process's deltas not yet added to the database, by (sample name, labels)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.deltas: dict[tuple[str, str], float] = {}

    def add(self, samples: list[tuple[str, str, float]]) -> None:
        with self.lock:
            for name, key, amount in samples:
                self.deltas[(name, key)] = self.deltas.get((name, key), 0.0) + amount
        if _flusher.enabled and _flusher.thread is None:
            _flusher.start()  # a process forked from one that flushes (a pool child)

    def take(self) -> dict[tuple[str, str], float]:
        with self.lock:
            taken, self.deltas = self.deltas, {}
        return taken


_buffer = _Buffer()


def inc(metric: Metric, amount: float = 1.0, **labels: object) -> None:
    """Add ``amount`` to a counter (kept in memory until the next flush)."""
    assert metric.kind == "counter", metric.name
    _buffer.add([(f"{metric.name}_total", labels_key(_labels(metric, labels)), amount)])


def observe(metric: Metric, value: float, **labels: object) -> None:
    """Record one observation of a histogram: every bucket it fits in, its sum and count."""
    assert metric.kind == "histogram", metric.name
    key = labels_key(_labels(metric, labels))
    samples = [(f"{metric.name}_sum", key, value), (f"{metric.name}_count", key, 1.0)]
    samples += [(f"{metric.name}_bucket", bucket_key, 1.0)
                for bound, bucket_key in _bucket_keys(metric, key) if value <= bound]  # fmt: skip
    _buffer.add(samples)


def le_text(bound: float) -> str:
    """A bucket's ``le`` label as Prometheus writes it (``0.5``, ``10.0``, ``+Inf``)."""
    return "+Inf" if bound == float("inf") else repr(float(bound))


@lru_cache(maxsize=2048)
def _bucket_keys(metric: Metric, key: str) -> tuple[tuple[float, str], ...]:
    """Each bucket's bound and stored label set, for one label set (built once: a task run
    observes one per bucket)."""
    base = json.loads(key)
    return tuple(
        (bound, labels_key({**base, "le": le_text(bound)}))
        for bound in (*metric.buckets, float("inf"))
    )


def inc_on_commit(metric: Metric, amount: float = 1.0, **labels: object) -> None:
    """``inc`` once the current transaction commits (a rolled-back change counts nothing)."""
    transaction.on_commit(lambda: inc(metric, amount, **labels))


def _upsert_sql() -> str:
    table = connection.ops.quote_name(MetricSample._meta.db_table)
    return (
        f"INSERT INTO {table} (name, labels, value) VALUES (%s, %s, %s) "
        f"ON CONFLICT (name, labels) DO UPDATE SET value = {table}.value + excluded.value"
    )


def flush() -> int:
    """Add this process's deltas to the database; returns how many samples were written.

    On a database error the deltas go back into the buffer for the next flush."""
    taken = _buffer.take()
    if not taken:
        return 0
    rows = [(name, key, amount) for (name, key), amount in sorted(taken.items())]
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(_upsert_sql(), rows)
    except DatabaseError:
        _buffer.add(rows)
        raise
    return len(rows)


class _Flusher:
    """The process's one daemon thread that flushes every ``TRELLIS_METRICS_FLUSH_SECONDS``."""

    def __init__(self) -> None:
        self.thread: threading.Thread | None = None
        self.stopping = threading.Event()
        #: This process (and so the processes it forks) flushes: set by ``start_flushing``.
        self.enabled = False
        self._starting = threading.Lock()

    def start(self) -> None:
        with self._starting:
            if self.thread is not None and self.thread.is_alive():
                return
            self.enabled = True
            self.stopping = threading.Event()
            self.thread = threading.Thread(target=self._run, daemon=True, name="metrics-flush")
            self.thread.start()

    def _run(self) -> None:
        interval = max(float(settings.TRELLIS_METRICS_FLUSH_SECONDS), 0.1)
        while not self.stopping.wait(interval):
            self.flush_quietly()

    @staticmethod
    def flush_quietly() -> None:
        try:
            flush()
        except Exception:  # a database outage must not end the thread: retried next time
            log.warning("metrics flush failed; retrying later", exc_info=True)
        finally:
            connection.close()  # this thread's own connection: hold none between flushes

    def after_fork(self) -> None:
        """A forked child counts from zero (the parent's deltas are the parent's to flush) and
        has no thread: it starts its own with its first count if the parent flushed (a
        prefork pool child, a gunicorn worker of a ``--preload`` master)."""
        self.thread = None
        self._starting = threading.Lock()
        _buffer.deltas = {}
        _buffer.lock = threading.Lock()


_flusher = _Flusher()
os.register_at_fork(after_in_child=_flusher.after_fork)


def start_flushing() -> None:
    """Start this process's flush thread (roles call it: Celery processes, the WSGI app); the
    processes it forks start theirs when they first count.

    Not started on import, so tests and commands that record in memory write nothing behind
    the test's back."""
    _flusher.start()


def flush_at_exit() -> None:
    """Flush what is left when a process stops warmly (a SIGKILL loses at most one interval)."""
    _flusher.stopping.set()
    _flusher.flush_quietly()

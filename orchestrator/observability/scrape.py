"""What ``/metrics`` serves: the pushed counters and histograms (``metrics.py``) as stored,
and gauges of what is waiting now, read from the database at scrape time.

Gauges are computed here rather than pushed because the database already knows them exactly
(a QUEUED attempt is a row), whichever host queued it and whether or not anything is running.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime

from django.db.models import Count, Min
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from executions.models import Execution, TaskRunAttempt
from executions.runtime.dispatch import EXECUTOR_QUEUE
from kernel.clock import now
from kernel.states import ACTIVE, State
from orchestrator.celery import app
from orchestrator.models import MetricSample
from orchestrator.observability import metrics

log = logging.getLogger(__name__)


class TrellisCollector(Collector):
    """A prometheus-client collector over the database (one per scrape, no state)."""

    def __init__(self, *, broker: bool = True) -> None:
        self.broker = broker

    def collect(self) -> Iterator[Metric]:
        yield from pushed_families()
        yield from queue_families(now())
        yield from execution_families()
        yield from heartbeat_families(now())
        if self.broker:
            yield from broker_families()


def pushed_families() -> Iterator[Metric]:
    """Every pushed metric, with the samples processes have flushed so far."""
    rows: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for name, labels, value in MetricSample.objects.values_list("name", "labels", "value"):
        rows[name].append((json.loads(labels), value))
    for metric in metrics.PUSHED:
        if metric.kind == "counter":
            family = CounterMetricFamily(metric.name, metric.help, labels=metric.labels)
            for labels, value in rows[f"{metric.name}_total"]:
                family.add_metric([labels.get(k, "") for k in metric.labels], value)
            yield family
        else:
            yield _histogram(metric, rows)


def _histogram(
    metric: metrics.Metric, rows: dict[str, list[tuple[dict[str, str], float]]]
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(metric.name, metric.help, labels=metric.labels)
    buckets: dict[tuple[str, ...], dict[str, float]] = defaultdict(dict)
    for labels, value in rows[f"{metric.name}_bucket"]:
        buckets[tuple(labels.get(k, "") for k in metric.labels)][labels.get("le", "")] = value
    sums = {tuple(lb.get(k, "") for k in metric.labels): v for lb, v in rows[f"{metric.name}_sum"]}
    for key, total in sorted(sums.items()):
        found = buckets.get(key, {})
        # A bucket never reached by an observation has no row: it holds what the one below has.
        series, running = [], 0.0
        for bound in (*metric.buckets, float("inf")):
            le = metrics.le_text(bound)
            running = max(running, found.get(le, 0.0))
            series.append((le, running))
        family.add_metric(list(key), series, total)
    return family


def queue_families(moment: datetime) -> Iterator[Metric]:
    depth = GaugeMetricFamily(
        "trellis_queue_depth",
        "QUEUED task-run attempts waiting for a worker, by queue (from the database).",
        labels=["queue"],
    )
    oldest = GaugeMetricFamily(
        "trellis_queued_attempt_oldest_age_seconds",
        "Age of the oldest QUEUED attempt, by queue: grows when nothing consumes a queue.",
        labels=["queue"],
    )
    waiting = (
        TaskRunAttempt.objects.filter(state=State.QUEUED)
        .values("queue")
        .annotate(n=Count("id"), first=Min("created_at"))
        .order_by("queue")
    )
    for row in waiting:
        depth.add_metric([row["queue"]], row["n"])
        oldest.add_metric([row["queue"]], max((moment - row["first"]).total_seconds(), 0.0))
    yield depth
    yield oldest


def execution_families() -> Iterator[Metric]:
    family = GaugeMetricFamily(
        "trellis_executions_active",
        "Executions not yet ended, by flow and state (from the database).",
        labels=["namespace", "flow", "state"],
    )
    active = (
        Execution.objects.filter(state__in=[str(s) for s in ACTIVE])
        .values("namespace", "flow_id", "state")
        .annotate(n=Count("id"))
        .order_by("namespace", "flow_id", "state")
    )
    for row in active:
        family.add_metric([row["namespace"], row["flow_id"], row["state"]], row["n"])
    yield family


def heartbeat_families(moment: datetime) -> Iterator[Metric]:
    """How long ago each worker host last renewed a running attempt's lease."""
    family = GaugeMetricFamily(
        "trellis_worker_heartbeat_age_seconds",
        "Seconds since the stalest heartbeat of the attempts each worker host is running.",
        labels=["host"],
    )
    running = (
        TaskRunAttempt.objects.filter(state=State.RUNNING, heartbeat_at__isnull=False)
        .values("owner")
        .annotate(last=Min("heartbeat_at"))
    )
    ages: dict[str, float] = {}
    for row in running:
        host = row["owner"].rsplit(":", 1)[0]
        age = max((moment - row["last"]).total_seconds(), 0.0)
        ages[host] = max(ages.get(host, 0.0), age)
    for host, age in sorted(ages.items()):
        family.add_metric([host], age)
    yield family


def broker_families() -> Iterator[Metric]:
    """Messages in the broker's queues (the executor's wake-ups among them), best effort: an
    unreachable broker leaves the family empty and ``trellis_broker_up`` at 0."""

    up = GaugeMetricFamily("trellis_broker_up", "1 if the broker answered this scrape.")
    family = GaugeMetricFamily(
        "trellis_broker_queue_messages",
        "Messages waiting in the broker, by queue (wake-ups and attempts alike).",
        labels=["queue"],
    )
    queues = {EXECUTOR_QUEUE, "default"} | set(
        TaskRunAttempt.objects.filter(state=State.QUEUED).values_list("queue", flat=True)
    )
    try:
        with app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            for queue in sorted(queues):
                # A channel each: AMQP closes a channel whose passive declare failed.
                with conn.channel() as channel:
                    try:
                        count = channel.queue_declare(queue=queue, passive=True).message_count
                    except conn.channel_errors:
                        count = 0  # not declared yet, or (Redis) an empty list: none waiting
                family.add_metric([queue], count)
        up.add_metric([], 1)
    except Exception:  # noqa: BLE001 - a scrape must answer even when the broker does not
        log.warning("broker queue sizes unavailable", exc_info=True)
        up.add_metric([], 0)
    yield up
    yield family

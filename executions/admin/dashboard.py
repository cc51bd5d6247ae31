"""The admin index dashboard: executions per state over 24 hours, failing flows, queue depth
per Celery queue and the live workers.

Queue depth comes from the broker itself where the transport can say (a passive
``queue_declare`` answers with the message count on AMQP, Redis and the filesystem transport),
next to the attempts the database holds as QUEUED — the two differ when a message is lost,
which the sweeper repairs. Live workers come from Celery's ``inspect`` when remote control is
on; the filesystem broker has no fanout exchange and so no remote control: the page says so
and lists the workers seen through their attempts' heartbeats instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Max, Q
from django.db.models.functions import TruncHour
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe

from executions.admin.chart import stacked_bars_svg
from executions.admin.common import STATE_ORDER, state_color
from executions.models import Execution, TaskRun, TaskRunAttempt
from kernel.states import State
from orchestrator.celery import app

BROKER_TIMEOUT = 2.0
INSPECT_TIMEOUT = 1.0


@dataclass(frozen=True)
class QueueDepth:
    name: str
    #: Messages waiting in the broker (None: the transport cannot tell).
    broker: int | None
    #: Attempts the database holds as QUEUED for this queue.
    queued_attempts: int
    note: str = ""


def queue_names() -> list[str]:
    """The fixed queues and every worker-group queue a task run has used."""
    groups = TaskRun.objects.exclude(queue__in=["default", "executor"]).values_list(
        "queue", flat=True
    )
    return ["executor", "default", *sorted(set(groups.distinct()[:50]))]


def _broker_counts(names: list[str]) -> tuple[dict[str, int | None], str]:
    from kombu.exceptions import ChannelError

    counts: dict[str, int | None] = dict.fromkeys(names)
    try:
        with app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT)
            for name in names:
                channel = conn.channel()  # a refused passive declare closes its channel
                try:
                    counts[name] = channel.queue_declare(queue=name, passive=True).message_count
                except ChannelError:
                    counts[name] = 0  # not declared yet: nothing was ever sent to it
                finally:
                    channel.close()
    except Exception as exc:  # an unreachable broker must not break the admin
        return counts, f"the broker cannot be read: {exc}"
    return counts, ""


def queue_depths() -> tuple[list[QueueDepth], str]:
    """Depth of each queue, and a problem reading the broker ("" when none)."""
    names = queue_names()
    waiting = dict(
        TaskRunAttempt.objects.filter(state=State.QUEUED)
        .values_list("queue")
        .annotate(n=Count("id"))
        .values_list("queue", "n")
    )
    counts, problem = _broker_counts(names)
    return [QueueDepth(name, counts.get(name), waiting.get(name, 0)) for name in names], problem


def live_workers() -> tuple[list[dict[str, Any]] | None, str]:
    """``(workers, note)``: Celery's answer to ``inspect().active_queues()``, or None with the
    reason when remote control is off (the filesystem broker) or nobody answered."""

    broker = str(app.conf.broker_url or "")
    if broker.startswith("filesystem://") or not app.conf.worker_enable_remote_control:
        return None, (
            "The filesystem broker has no remote control, so Celery cannot list live "
            "workers in this mode. Workers seen through their heartbeats are listed below."
        )
    try:
        replies = app.control.inspect(timeout=INSPECT_TIMEOUT).active_queues() or {}
    except Exception as exc:
        return None, f"Celery's inspect failed: {exc}"
    workers = [
        {"name": name, "queues": sorted(q.get("name", "") for q in queues or [])}
        for name, queues in sorted(replies.items())
    ]
    return workers, "" if workers else "No worker answered within a second."


def heartbeat_workers(now: datetime) -> list[dict[str, Any]]:
    """Worker processes that ran an attempt in the last 5 minutes, from the database."""
    rows = (
        TaskRunAttempt.objects.exclude(owner="")
        .filter(heartbeat_at__gte=now - timedelta(minutes=5))
        .values("owner")
        .annotate(
            running=Count("id", filter=Q(state=State.RUNNING)),
            last=Max("heartbeat_at"),
        )
        .order_by("owner")
    )
    return list(rows[:100])


def chart(now: datetime) -> tuple[str, dict[str, int]]:
    """The 24-hour chart and the totals per state it shows."""
    local = timezone.localtime(now)
    first = local.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    buckets = [first + timedelta(hours=i) for i in range(24)]
    rows = (
        Execution.objects.filter(created_at__gte=first)
        .annotate(hour=TruncHour("created_at"))
        .values("hour", "state")
        .annotate(n=Count("id"))
    )
    counts: dict[datetime, dict[str, int]] = {}
    totals: dict[str, int] = {}
    for row in rows:
        counts.setdefault(row["hour"], {})[row["state"]] = row["n"]
        totals[row["state"]] = totals.get(row["state"], 0) + row["n"]
    return stacked_bars_svg(buckets, counts), totals


def failing_flows(now: datetime) -> list[dict[str, Any]]:
    """Flows with FAILED executions in the last 24 hours, most failures first."""
    rows = (
        Execution.objects.filter(state=State.FAILED, created_at__gte=now - timedelta(days=1))
        .values("namespace", "flow_id")
        .annotate(failures=Count("id"), last=Max("created_at"))
        .order_by("-failures", "-last")[:10]
    )
    url = reverse("admin:executions_execution_changelist")
    return [
        {**row, "url": f"{url}?flow={row['namespace']}/{row['flow_id']}&state__exact=FAILED"}
        for row in rows
    ]


def dashboard_context() -> dict[str, Any]:
    now = timezone.now()
    svg, totals = chart(now)
    queues, broker_problem = queue_depths()
    workers, workers_note = live_workers()
    changelist = reverse("admin:executions_execution_changelist")
    return {
        "chart": mark_safe(svg),  # noqa: S308 - built with html.escape
        "totals": [
            (state, totals[state], state_color(state), f"{changelist}?state__exact={state}")
            for state in STATE_ORDER
            if totals.get(state)
        ],
        "failing": failing_flows(now),
        "queues": queues,
        "broker_problem": broker_problem,
        "workers": workers,
        "workers_note": workers_note,
        "heartbeats": heartbeat_workers(now),
        "running": Execution.objects.filter(state=State.RUNNING).count(),
        "generated_at": now,
        "panel_url": reverse("admin:executions_dashboard_panel"),
    }


def dashboard_panel(request: HttpRequest) -> HttpResponse:
    """The panel alone, for the index page's periodic refresh."""
    if not request.user.has_perm("executions.view_execution"):
        return HttpResponse("")
    html = render_to_string(
        "admin/executions/dashboard_panel.html", dashboard_context(), request=request
    )
    return HttpResponse(html)

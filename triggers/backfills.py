"""Backfills: the executions of a Schedule's past ticks, at a bounded rate, pausable.

The backfill lives in ``TriggerState.backfill`` (a JSON document, so progress is one read):

    {"start", "end", "cursor": ISO dates (ticks up to the cursor are handled),
     "inputs", "labels", "paused", "done", "total", "handled", "created", "skipped",
     "startedAt", "updatedAt"}

``backfill_step`` (a Celery task calls it) handles ``TRELLIS_BACKFILL_BATCH`` ticks, then
queues itself again ``TRELLIS_BACKFILL_PAUSE_SECONDS`` later: that is the rate bound. Each
tick goes through the same unique key as live ticks, so a tick that already ran (live or by
an earlier backfill) is counted as skipped, never started twice. A lost step message is
re-sent by the recovery sweep (``stalled_backfills``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction

from executions.runtime.dispatch import EXECUTOR_QUEUE, send
from kernel.clock import now as clock
from kernel.registry import registry
from triggers.cron import CronSchedule
from triggers.models import TriggerState
from triggers.schedules import fire_tick, live_trigger, lock_state, schedule_of
from triggers.task_names import BACKFILL_STEP

#: A backfill may not cover more ticks than this (a typo in a date should not start millions).
MAX_BACKFILL_TICKS = 100_000


class BackfillError(ValueError):
    """The backfill cannot start or change (unknown trigger, bad window, already running)."""


class BackfillConflict(BackfillError):
    """The request does not fit the backfill's current state (one is already running, or
    there is none to pause, resume or delete)."""


def batch_size() -> int:
    return int(getattr(settings, "TRELLIS_BACKFILL_BATCH", 10))


def pause_seconds() -> float:
    return float(getattr(settings, "TRELLIS_BACKFILL_PAUSE_SECONDS", 1.0))


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def backfill_types() -> tuple[str, ...]:
    """Schedule types that replay past ticks (their class's ``backfills``), by registry."""
    return tuple(t for t in registry.trigger_types("schedule") if registry.get(t).backfills)


def _locked_schedule(namespace: str, flow_id: str, trigger_id: str) -> TriggerState:
    state = lock_state(namespace, flow_id, trigger_id)
    if state is None or state.type not in backfill_types():
        raise BackfillError(f"no Schedule trigger {trigger_id!r} on flow {namespace}.{flow_id}")
    return state


def backfill_start(
    *,
    namespace: str,
    flow_id: str,
    trigger_id: str,
    start: datetime,
    end: datetime,
    inputs: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
) -> TriggerState:
    """Start backfilling the ticks in [start, end]; the first step runs after commit.

    Raises BackfillError for an unknown or non-Schedule trigger, a disabled or deleted flow,
    an empty or oversized window, or a backfill already in progress.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise BackfillError("start and end need a timezone")
    if end < start:
        raise BackfillError("end is before start")
    if end > clock():
        raise BackfillError("a backfill covers the past only: end is in the future")
    with transaction.atomic():
        state = _locked_schedule(namespace, flow_id, trigger_id)
        found = live_trigger(namespace, flow_id, trigger_id)
        if found is None:
            raise BackfillError(f"flow {namespace}.{flow_id} is disabled, deleted or lacks it")
        current = state.backfill or {}
        if current and not current.get("done"):
            raise BackfillConflict(f"a backfill of {state} is already in progress")
        cursor = start - timedelta(microseconds=1)
        total = len(schedule_of(found[2]).ticks_between(cursor, end, limit=MAX_BACKFILL_TICKS + 1))
        if total > MAX_BACKFILL_TICKS:
            raise BackfillError(f"the window holds more than {MAX_BACKFILL_TICKS} ticks")
        moment = _iso(clock())
        state.backfill = {
            "start": _iso(start), "end": _iso(end), "cursor": _iso(cursor),
            "inputs": dict(inputs or {}), "labels": {str(k): str(v) for k, v in (labels or {}).items()},
            "paused": False, "done": total == 0, "total": total, "handled": 0, "created": 0,
            "skipped": 0, "startedAt": moment, "updatedAt": moment,
        }  # fmt: skip
        state.save(update_fields=["backfill", "updated_at"])
        if total:
            queue_step(state)
    return state


def backfill_step(*, namespace: str, flow_id: str, trigger_id: str) -> bool:
    """Handle the next batch of ticks; True when more remain (another step is queued)."""
    with transaction.atomic():
        state = lock_state(namespace, flow_id, trigger_id)
        backfill = dict(state.backfill or {}) if state is not None else {}
        if state is None or not backfill or backfill.get("paused") or backfill.get("done"):
            return False
        found = live_trigger(namespace, flow_id, trigger_id)
        if found is None:  # the flow went away or was disabled: wait for a resume
            backfill.update(paused=True, error="the flow is disabled, deleted or lacks the trigger")
            _save(state, backfill)
            return False
        flow, spec, trigger = found
        cron: CronSchedule = schedule_of(trigger)
        end = datetime.fromisoformat(backfill["end"])
        ticks = cron.ticks_between(
            datetime.fromisoformat(backfill["cursor"]), end, limit=batch_size()
        )
        for tick in ticks:
            execution = fire_tick(flow, spec, trigger, tick, backfill=backfill)
            backfill["created" if execution is not None else "skipped"] += 1
        backfill["handled"] += len(ticks)
        if ticks:
            backfill["cursor"] = _iso(ticks[-1])
        cursor = datetime.fromisoformat(backfill["cursor"])
        backfill["done"] = not ticks or cron.next_after(cursor) > end
        _save(state, backfill)
        if not backfill["done"]:
            queue_step(state, countdown=pause_seconds())
        return not backfill["done"]


def backfill_set_paused(
    *, namespace: str, flow_id: str, trigger_id: str, paused: bool
) -> TriggerState:
    """Pause or resume the backfill in progress (resuming queues the next step)."""
    with transaction.atomic():
        state = _locked_schedule(namespace, flow_id, trigger_id)
        backfill = dict(state.backfill or {})
        if not backfill or backfill.get("done"):
            raise BackfillConflict(f"{state} has no backfill in progress")
        backfill["paused"] = paused
        backfill.pop("error", None)
        _save(state, backfill)
        if not paused:
            queue_step(state)
    return state


def backfill_delete(*, namespace: str, flow_id: str, trigger_id: str) -> TriggerState:
    """Stop and forget the backfill, running or finished (the executions it started stay).
    A step already queued finds no backfill and does nothing."""
    with transaction.atomic():
        state = _locked_schedule(namespace, flow_id, trigger_id)
        if not state.backfill:
            raise BackfillConflict(f"{state} has no backfill")
        state.backfill = None
        state.save(update_fields=["backfill", "updated_at"])
    return state


def backfill_progress(state: TriggerState) -> dict[str, Any] | None:
    """What a user wants to see: counts, a percentage, the cursor and the status."""
    backfill = state.backfill
    if not backfill:
        return None
    total = backfill.get("total") or 0
    status = "DONE" if backfill.get("done") else "PAUSED" if backfill.get("paused") else "RUNNING"
    percent = 100.0 if not total else round(100.0 * backfill.get("handled", 0) / total, 1)
    return {**backfill, "status": status, "percent": percent}


def stalled_backfills(now: datetime | None = None) -> list[TriggerState]:
    """Running backfills whose last step is older than a minute (a lost message)."""
    moment = now or clock()
    quiet = timedelta(seconds=max(60.0, 10 * pause_seconds()))
    return list(
        TriggerState.objects.filter(
            type__in=backfill_types(), backfill__isnull=False, backfill__done=False,
            backfill__paused=False, updated_at__lt=moment - quiet,
        )[:100]
    )  # fmt: skip


def _save(state: TriggerState, backfill: dict[str, Any]) -> None:
    backfill["updatedAt"] = _iso(clock())
    state.backfill = backfill
    state.save(update_fields=["backfill", "updated_at"])


def queue_step(state: TriggerState, countdown: float | None = None) -> None:
    """Queue one step once the current transaction commits."""
    args = (state.namespace, state.flow_id, state.trigger_id)
    transaction.on_commit(
        lambda: send(BACKFILL_STEP, args, queue=EXECUTOR_QUEUE, countdown=countdown)
    )

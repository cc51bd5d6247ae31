"""Keep trigger state, celery-beat entries and the flow-trigger index in step with the flows.

``sync_flow_triggers`` is an ``on_flow_changed`` hook: it runs inside the transaction that
deploys, updates, disables, enables, restores or deletes a flow, so the schedules commit or
roll back with the flow. A Schedule trigger that may fire gets one django-celery-beat
``PeriodicTask`` named ``trellis:{namespace}:{flow}:{trigger}`` calling
``triggers.tasks.fire_schedule(namespace, flow_id, trigger_id)``:

* a 5-field cron becomes a ``CrontabSchedule`` in the trigger's timezone;
* a cron beat cannot express (``withSeconds``, ``L``, ``#``) wakes the task more often, every
  second (an ``IntervalSchedule``) or every minute, and croniter decides what is due: beat's
  crontab has no seconds field.

A silenced trigger (flow disabled or deleted, trigger disabled in YAML or by an operator) has
no beat entry; a trigger removed from the YAML loses its state too. One more entry,
``trellis:recover-schedules``, sweeps every 30 seconds for ticks beat missed. Polling triggers
have no entry of their own: an armed one gets a next evaluation date, which the
``trellis:poll-triggers`` entry (every second) turns into polls (``triggers.polling``).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django_celery_beat.models import (
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    PeriodicTasks,
)

from executions.runtime.dispatch import EXECUTOR_QUEUE, send
from flows.models import Flow
from flows.selectors import flow_spec
from kernel.clock import now as clock
from kernel.registry import registry
from triggers.cron import CronSchedule, DatesSchedule, beat_crontab
from triggers.flow_triggers import index_rows
from triggers.models import FlowTriggerIndex, TriggerState
from triggers.polling import POLL_ENTRY, interval_of, polling_class, tick_seconds
from triggers.schedules import TICKING, schedule_of
from triggers.task_names import FIRE_SCHEDULE, POLL_TRIGGERS, RECOVER_SCHEDULES

if TYPE_CHECKING:
    from flows.models import Flow
    from kernel.spec.model import FlowSpec, TriggerSpec

RECOVER_NAME = "trellis:recover-schedules"
_NAME_MAX = 200  # PeriodicTask.name's length


def periodic_task_name(namespace: str, flow_id: str, trigger_id: str) -> str:
    """``trellis:{namespace}:{flow}:{trigger}``; past 200 characters, a prefix plus a hash."""
    name = f"trellis:{namespace}:{flow_id}:{trigger_id}"
    if len(name) <= _NAME_MAX:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return f"{name[: _NAME_MAX - 17]}#{digest}"


def sync_flow_triggers(flow: Flow, spec: FlowSpec | None) -> None:
    """The hook: make states, beat entries and index rows match ``spec`` (None = deleted).

    Caller holds the transaction and the flow row lock.
    """
    namespace, flow_id = flow.namespace.name, flow.flow_id
    moment = clock()
    wanted = {t.id: t for t in (spec.triggers if spec is not None else ())}
    states = {
        s.trigger_id: s
        for s in TriggerState.objects.select_for_update().filter(
            namespace=namespace, flow_id=flow_id
        )
    }
    gone = [tid for tid in states if tid not in wanted]
    touched = False
    if gone:
        TriggerState.objects.filter(
            namespace=namespace, flow_id=flow_id, trigger_id__in=gone
        ).delete()
        touched = _drop_beat_entries([periodic_task_name(namespace, flow_id, t) for t in gone])
    FlowTriggerIndex.objects.filter(namespace=namespace, flow_id=flow_id).delete()
    flow_live = spec is not None and not flow.deleted and not flow.disabled
    for trigger in wanted.values():
        state = states.get(trigger.id) or TriggerState(
            namespace=namespace, flow_id=flow_id, trigger_id=trigger.id, type=trigger.type
        )
        touched = _sync_one(state, trigger, flow_live=flow_live, now=moment) or touched
    if any(registry.trigger_kind(t.type) == TICKING for t in wanted.values()):
        ensure_recover_entry()
    if touched:
        PeriodicTasks.update_changed()


def schedule_signature(trigger: TriggerSpec) -> str:
    """What makes two Schedule declarations the same series of ticks."""
    return schedule_of(trigger).signature


def _sync_one(state: TriggerState, trigger: TriggerSpec, *, flow_live: bool, now: datetime) -> bool:
    """Arm or silence one trigger; True when a beat entry was written or removed."""
    if state.type != trigger.type:  # same id, another kind of trigger: start afresh
        state.type, state.cursor, state.preconditions = trigger.type, None, {}
        state.poll_state, state.next_evaluation_date, state.interval = {}, None, None
    armed = flow_live and not trigger.disabled and not state.disabled
    if armed and not state.armed:
        state.cursor = now  # a silenced period is not replayed
        state.next_evaluation_date = None  # a polling trigger polls again from now
    state.armed = armed
    _sync_polling(state, trigger, armed=armed, now=now)
    name = periodic_task_name(state.namespace, state.flow_id, state.trigger_id)
    touched = False
    ticking = registry.trigger_kind(trigger.type) == TICKING
    if ticking:
        signature = schedule_signature(trigger)
        if state.signature and state.signature != signature and state.cursor is not None:
            # A new series of ticks: its ticks before this deploy never existed.
            state.cursor = max(state.cursor, now)
        state.signature = signature
    if ticking and armed:
        cron = schedule_of(trigger)
        state.cursor = state.cursor or now
        state.next_date = cron.next_after(state.cursor)
        _upsert_beat_entry(name, state, cron)
        touched = True
        if state.next_date is not None and state.next_date <= now:
            _fire_after_commit(state)  # beat missed ticks while we were away: recover now
    else:
        state.next_date = None
        touched = _drop_beat_entries([name])
    state.save()
    if registry.trigger_kind(trigger.type) == "flow" and armed:
        FlowTriggerIndex.objects.bulk_create(index_rows(state.namespace, state.flow_id, trigger))
    return touched


def _sync_polling(state: TriggerState, trigger: TriggerSpec, *, armed: bool, now: datetime) -> None:
    """A polling trigger's interval and next evaluation: due now when newly armed, kept
    across redeploys (brought forward when the interval shrank), none while silenced."""
    cls = polling_class(trigger.type)
    if cls is None:
        return
    interval = interval_of(trigger, cls)
    if not armed:
        # A poll still running records nothing (its token is gone), and re-arming later
        # polls at once instead of waiting for that poll's lease.
        state.next_evaluation_date, state.evaluation_started, state.poll_token = None, None, ""
    elif state.next_evaluation_date is None:
        state.next_evaluation_date = now
    else:
        state.next_evaluation_date = min(state.next_evaluation_date, now + interval)
    state.interval = interval
    if armed:
        ensure_poll_entry()


def arm(state: TriggerState, trigger: TriggerSpec | None, *, flow_live: bool) -> None:
    """Re-sync one state after an operator enabled or disabled it (caller holds a lock)."""
    if trigger is None:
        return
    FlowTriggerIndex.objects.filter(
        namespace=state.namespace, flow_id=state.flow_id, trigger_id=state.trigger_id
    ).delete()
    if _sync_one(state, trigger, flow_live=flow_live, now=clock()):
        PeriodicTasks.update_changed()


def sync_all() -> int:
    """Run the hook again for every flow (after installing the app, or to repair beat's
    tables by hand); returns how many flows were synced."""

    count = 0
    for flow in Flow.objects.select_related("namespace").order_by("pk"):
        with transaction.atomic():
            locked = Flow.objects.select_for_update().select_related("namespace").get(pk=flow.pk)
            sync_flow_triggers(locked, None if locked.deleted else flow_spec(locked))
        count += 1
    return count


def _upsert_beat_entry(name: str, state: TriggerState, cron: CronSchedule | DatesSchedule) -> None:
    fields = beat_crontab(cron)
    crontab = interval = None
    expire_seconds = None
    if cron.with_seconds:
        interval, _ = IntervalSchedule.objects.get_or_create(
            every=1, period=IntervalSchedule.SECONDS
        )
        expire_seconds = 30  # stale wake-ups are useless: the next second brings a fresh one
    else:
        crontab, _ = CrontabSchedule.objects.get_or_create(
            **(fields or {"minute": "*", "hour": "*", "day_of_month": "*",
                          "month_of_year": "*", "day_of_week": "*"}),
            timezone=cron.timezone,
        )  # fmt: skip
    PeriodicTask.objects.update_or_create(
        name=name,
        defaults={
            "task": FIRE_SCHEDULE,
            "args": json.dumps([state.namespace, state.flow_id, state.trigger_id]),
            "kwargs": "{}",
            "crontab": crontab,
            "interval": interval,
            "queue": EXECUTOR_QUEUE,
            "enabled": True,
            "expire_seconds": expire_seconds,
            "description": f"Schedule trigger {state} ({cron.expression}, {cron.timezone})",
        },
    )


def _drop_beat_entries(names: list[str]) -> bool:
    """Delete these entries; True when there was one."""
    found = False
    for task in PeriodicTask.objects.filter(name__in=names):
        task.delete()  # one by one: the delete signal tells beat
        found = True
    return found


def ensure_recover_entry() -> None:
    """The sweep for ticks beat missed (beat down, a lost message), every 30 seconds."""
    every = int(getattr(settings, "TRELLIS_SCHEDULE_RECOVER_SECONDS", 30))
    interval, _ = IntervalSchedule.objects.get_or_create(
        every=every, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.get_or_create(
        name=RECOVER_NAME,
        defaults={
            "task": RECOVER_SCHEDULES,
            "interval": interval,
            "queue": EXECUTOR_QUEUE,
            "expire_seconds": every,
            "description": "Start Schedule ticks that beat missed, and stalled backfills.",
        },
    )


def ensure_poll_entry() -> None:
    """The polling sweep: every ``TRELLIS_POLL_TICK_SECONDS`` (1 s) beat asks which polling
    triggers are due (see ``triggers.polling``)."""
    every = max(1, int(tick_seconds()))
    interval, _ = IntervalSchedule.objects.get_or_create(
        every=every, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.get_or_create(
        name=POLL_ENTRY,
        defaults={
            "task": POLL_TRIGGERS,
            "interval": interval,
            "queue": EXECUTOR_QUEUE,
            "expire_seconds": max(5, 2 * every),
            "description": "Claim the polling triggers that are due and send their polls.",
        },
    )


def _fire_after_commit(state: TriggerState) -> None:
    args = (state.namespace, state.flow_id, state.trigger_id)
    transaction.on_commit(lambda: send(FIRE_SCHEDULE, args, queue=EXECUTOR_QUEUE))

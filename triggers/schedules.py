"""Schedule triggers: turn due cron ticks into executions.

Beat only wakes us up (``triggers.tasks.fire_schedule``); what is due is computed here from the
trigger's ``cursor`` and croniter, and each tick goes through the unique key of
``triggers.firing``. So an early, late, lost or duplicated beat message, two beat processes,
or celery-beat's own DST quirks change nothing: at worst a tick is started by the recovery
sweep (``recover_schedules``) a little later.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction

from executions.models import Execution
from flows.models import Flow
from flows.selectors import flow_spec
from kernel.clock import now as clock
from kernel.durations import parse_duration
from kernel.expressions.render import render_value
from kernel.registry import registry
from kernel.spec.model import FlowSpec, TriggerSpec
from plugins.core.triggers import parse_date
from triggers.cron import CronSchedule, DatesSchedule, select_due, too_late
from triggers.firing import (
    FireKey,
    Start,
    base_context,
    conditions_hold,
    count_skipped,
    fire_once,
    render_labels,
)
from triggers.models import TriggerState

log = logging.getLogger(__name__)

#: Trigger types fired by ticks (beat entries, a cursor, one execution per tick) are those of
#: ``trigger_kind`` ``schedule``, asked through the registry.
TICKING = "schedule"
#: Ticks handled per call at most (a seconds cron after a long outage catches up in steps).
MAX_TICKS_PER_FIRE = 500


def grace() -> timedelta:
    """How old a tick may be and still count as on time (not "missed")."""
    return timedelta(seconds=float(getattr(settings, "TRELLIS_SCHEDULE_GRACE_SECONDS", 60)))


def schedule_of(trigger: TriggerSpec) -> CronSchedule | DatesSchedule:
    props = trigger.properties
    cls = registry.trigger_class(trigger.type)
    if cls is not None and cls.schedule_dates:
        zone = str(props.get("timezone") or "Etc/UTC")
        dates = tuple(parse_date(d, zone) for d in props.get("dates") or ())
        return DatesSchedule(dates=dates, timezone=zone)
    return CronSchedule(
        expression=str(props.get("cron", "")),
        timezone=str(props.get("timezone") or "Etc/UTC"),
        with_seconds=props.get("withSeconds") is True,
    )


def live_trigger(
    namespace: str, flow_id: str, trigger_id: str
) -> tuple[Flow, FlowSpec, TriggerSpec] | None:
    """The flow, its spec and the trigger, if the flow is live and enabled and the trigger is
    declared and not disabled in the YAML; None otherwise."""
    flow = (
        Flow.objects.live()
        .select_related("namespace")
        .filter(namespace__name=namespace, flow_id=flow_id, disabled=False)
        .first()
    )
    if flow is None:
        return None
    spec = flow_spec(flow)
    trigger = next((t for t in spec.triggers if t.id == trigger_id), None)
    if trigger is None or trigger.disabled:
        return None
    return flow, spec, trigger


def lock_state(namespace: str, flow_id: str, trigger_id: str) -> TriggerState | None:
    """The state row, locked for this transaction (serialises two beats on PostgreSQL)."""
    return (
        TriggerState.objects.select_for_update()
        .filter(namespace=namespace, flow_id=flow_id, trigger_id=trigger_id)
        .first()
    )


def fire_tick(
    flow: Flow,
    spec: FlowSpec,
    trigger: TriggerSpec,
    tick: datetime,
    *,
    backfill: dict[str, Any] | None = None,
) -> Execution | None:
    """Start the execution of one tick unless it exists or the conditions say no.

    ``backfill`` (inputs and labels of a backfill) replaces the trigger's own inputs and adds
    its labels. Caller holds a transaction.
    """
    cron = schedule_of(trigger)
    variables: dict[str, Any] = cron.variables(tick)
    if backfill is not None:
        variables["backfill"] = True
    context = base_context(spec, trigger=variables, now=tick)
    if not conditions_hold(trigger, context):
        count_skipped(spec.namespace, spec.id, trigger.id, "conditions")
        return None

    def build() -> Start:
        raw_inputs = trigger.properties.get("inputs") or {}
        if backfill is not None and backfill.get("inputs"):
            raw_inputs = {**raw_inputs, **backfill["inputs"]}
        inputs = render_value(dict(raw_inputs), context)
        labels = render_labels(trigger.properties.get("labels"), context)
        if backfill is not None:
            labels.update({str(k): str(v) for k, v in (backfill.get("labels") or {}).items()})
        return Start(trigger=trigger, variables=variables, inputs=inputs, labels=labels)

    key = FireKey(spec.namespace, spec.id, trigger.id, scheduled_date=tick)
    return fire_once(key, flow, build, backfill=backfill is not None)


def schedule_fire(
    *, namespace: str, flow_id: str, trigger_id: str, now: datetime | None = None
) -> list[Execution]:
    """Start every tick due since the trigger's cursor (per recoverMissedSchedules and
    lateMaximumDelay), then move the cursor past them. Safe to call any number of times."""
    moment = now or clock()
    started: list[Execution] = []
    with transaction.atomic():
        state = lock_state(namespace, flow_id, trigger_id)
        if state is None or not state.armed or state.disabled:
            return started
        found = live_trigger(namespace, flow_id, trigger_id)
        if found is None or registry.trigger_kind(found[2].type) != TICKING:
            return started
        flow, spec, trigger = found
        cron = schedule_of(trigger)
        cursor = state.cursor or moment
        ticks = cron.ticks_between(cursor, moment, limit=MAX_TICKS_PER_FIRE)
        policy = str(trigger.properties.get("recoverMissedSchedules") or "ALL")
        late = trigger.properties.get("lateMaximumDelay")
        late_delay = parse_duration(late) if late else None
        chosen = set(select_due(ticks, moment, policy=policy, grace=grace()))
        for tick in ticks:
            if tick not in chosen:
                log.info("%s: tick %s missed, not recovered (%s)", state, tick, policy)
                count_skipped(namespace, flow_id, trigger_id, "missed")
            elif too_late(tick, moment, late_delay):
                log.info("%s: tick %s skipped, later than lateMaximumDelay", state, tick)
                count_skipped(namespace, flow_id, trigger_id, "late")
            else:
                execution = fire_tick(flow, spec, trigger, tick)
                if execution is not None:
                    started.append(execution)
        state.cursor = ticks[-1] if ticks else cursor
        state.next_date = cron.next_after(state.cursor)
        state.save(update_fields=["cursor", "next_date", "updated_at"])
    return started


def overdue_schedules(now: datetime | None = None) -> list[tuple[str, str, str]]:
    """Armed schedules whose next tick has passed: beat has not (yet) fired them.

    No grace here on purpose: run every ``TRELLIS_SCHEDULE_RECOVER_SECONDS`` (30 s), the sweep
    starts a tick beat missed while it is still on time, which matters for NONE and for the
    daylight-saving days on which beat's crontab and croniter disagree.
    """
    moment = now or clock()
    rows = TriggerState.objects.filter(
        type__in=registry.trigger_types(TICKING), armed=True, disabled=False, next_date__lte=moment
    ).values_list("namespace", "flow_id", "trigger_id")
    return list(rows[:1000])


def recover_schedules(now: datetime | None = None) -> int:
    """Fire every overdue schedule (beat down, a lost message, a DST disagreement); returns
    how many executions started."""
    count = 0
    for namespace, flow_id, trigger_id in overdue_schedules(now):
        started = schedule_fire(
            namespace=namespace, flow_id=flow_id, trigger_id=trigger_id, now=now
        )
        count += len(started)
    return count

"""Trigger use cases. Adapters (tasks, views, admin, CLI) import from here.

The logic lives in one module per concern: ``schedules`` (cron ticks), ``backfills``,
``flow_triggers``, ``webhooks`` and ``sync`` (the deploy hook); this module re-exports their
entry points and holds the operator actions (enable, disable, stopAfter).
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from executions.models import Execution
from flows.models import Flow
from flows.selectors import flow_spec
from triggers.backfills import (
    BackfillError,
    backfill_progress,
    backfill_set_paused,
    backfill_start,
    backfill_step,
    stalled_backfills,
)
from triggers.firing import KESTRA_TYPES, trigger_of
from triggers.flow_triggers import flow_triggers_evaluate
from triggers.models import TriggerState
from triggers.schedules import lock_state, recover_schedules, schedule_fire
from triggers.webhooks import WebhookCall, WebhookNotFound, webhook_fire

__all__ = [
    "BackfillError",
    "TriggerError",
    "WebhookCall",
    "WebhookNotFound",
    "backfill_progress",
    "backfill_set_paused",
    "backfill_start",
    "backfill_step",
    "flow_triggers_evaluate",
    "recover",
    "schedule_fire",
    "stop_after_check",
    "trigger_set_disabled",
    "webhook_fire",
]


class TriggerError(ValueError):
    """No such trigger state (the flow or trigger is unknown, or was never deployed)."""


def trigger_set_disabled(
    *, namespace: str, flow_id: str, trigger_id: str, disabled: bool, reason: str = ""
) -> TriggerState:
    """The operator's switch, kept across redeploys. Disabling removes the beat entry;
    enabling re-arms the trigger from now (the silenced period is not replayed)."""
    from triggers.sync import arm

    with transaction.atomic():
        state = lock_state(namespace, flow_id, trigger_id)
        if state is None:
            raise TriggerError(f"no trigger {trigger_id!r} on flow {namespace}.{flow_id}")
        state.disabled = disabled
        state.disabled_reason = reason if disabled else ""
        flow = (
            Flow.objects.live()
            .select_related("namespace")
            .filter(namespace__name=namespace, flow_id=flow_id)
            .first()
        )
        trigger = trigger_of(flow_spec(flow), trigger_id) if flow is not None else None
        if trigger is None:
            state.save()
            return state
        arm(state, trigger, flow_live=not flow.disabled)
    return state


def stop_after_check(execution: Execution) -> bool:
    """Disable the trigger that started ``execution`` when its ``stopAfter`` lists the
    execution's final state (Kestra's stopAfter). True when it did."""
    info = execution.trigger or {}
    if not info.get("id") or info.get("type") not in KESTRA_TYPES.values():
        return False
    flow = Flow.objects.filter(namespace__name=execution.namespace, flow_id=execution.flow_id)
    flow = flow.select_related("namespace").first()
    if flow is None:
        return False
    try:
        spec = flow_spec(flow, revision=execution.flow_revision)
    except Exception:  # the revision is gone: nothing to read stopAfter from
        return False
    trigger = trigger_of(spec, str(info["id"]))
    stop_after = trigger.properties.get("stopAfter") if trigger is not None else None
    if not stop_after or str(execution.state) not in stop_after:
        return False
    try:
        trigger_set_disabled(
            namespace=execution.namespace, flow_id=execution.flow_id, trigger_id=trigger.id,
            disabled=True, reason=f"stopAfter: execution {execution.id} ended {execution.state}",
        )  # fmt: skip
    except TriggerError:
        return False
    return True


def recover(now: datetime | None = None) -> dict[str, int]:
    """The recovery sweep (every 30 s): overdue schedule ticks, then stalled backfills."""
    from triggers.backfills import queue_step

    started = recover_schedules(now)
    stalled = stalled_backfills(now)
    for state in stalled:
        with transaction.atomic():
            queue_step(state)
    return {"started": started, "backfills": len(stalled)}

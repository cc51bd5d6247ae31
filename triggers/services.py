"""Trigger use cases. Adapters (tasks, views, admin, CLI) import from here.

The logic lives in one module per concern: ``schedules`` (cron ticks), ``backfills``,
``flow_triggers``, ``webhooks`` and ``sync`` (the deploy hook); this module re-exports their
entry points and holds the operator actions (enable, disable, update, the bulk actions of
the API, stopAfter).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction

from executions.models import Execution
from flows.models import Flow
from flows.selectors import flow_spec
from kernel.registry import registry
from triggers.backfills import (
    BackfillConflict,
    BackfillError,
    backfill_delete,
    backfill_progress,
    backfill_set_paused,
    backfill_start,
    backfill_step,
    queue_step,
    stalled_backfills,
)
from triggers.firing import trigger_of
from triggers.flow_triggers import flow_triggers_evaluate
from triggers.models import TriggerState
from triggers.schedules import lock_state, recover_schedules, schedule_fire
from triggers.signatures import prune_deliveries
from triggers.sync import arm
from triggers.webhooks import WebhookCall, WebhookNotFound, webhook_fire

__all__ = [
    "BackfillConflict",
    "BackfillError",
    "BackfillWindow",
    "BulkResult",
    "TriggerError",
    "TriggerKey",
    "WebhookCall",
    "WebhookNotFound",
    "backfill_delete",
    "backfill_progress",
    "backfill_set_paused",
    "backfill_start",
    "backfill_step",
    "backfills_delete",
    "backfills_set_paused",
    "flow_triggers_evaluate",
    "recover",
    "schedule_fire",
    "stop_after_check",
    "trigger_set_disabled",
    "trigger_update",
    "triggers_set_disabled",
    "webhook_fire",
]


class TriggerError(LookupError):
    """No such trigger state (the flow or trigger is unknown, or was never deployed)."""


@dataclass(frozen=True)
class TriggerKey:
    """Names one trigger: what the bulk actions take."""

    namespace: str
    flow_id: str
    trigger_id: str

    def kwargs(self) -> dict[str, str]:
        return {"namespace": self.namespace, "flow_id": self.flow_id, "trigger_id": self.trigger_id}

    @classmethod
    def of(cls, state: TriggerState) -> TriggerKey:
        return cls(state.namespace, state.flow_id, state.trigger_id)


@dataclass(frozen=True)
class BulkResult:
    """One trigger's outcome in a bulk action: refusals are reported, not raised."""

    key: TriggerKey
    ok: bool
    message: str = ""


@dataclass(frozen=True)
class BackfillWindow:
    """A backfill to start: the ticks in [start, end], with these inputs and labels."""

    start: datetime
    end: datetime
    inputs: Mapping[str, Any] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)


def trigger_set_disabled(
    *, namespace: str, flow_id: str, trigger_id: str, disabled: bool, reason: str = ""
) -> TriggerState:
    """The operator's switch, kept across redeploys. Disabling removes the beat entry;
    enabling re-arms the trigger from now (the silenced period is not replayed)."""

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


def _existing(key: TriggerKey) -> TriggerState:
    state = TriggerState.objects.filter(**key.kwargs()).first()
    if state is None:
        raise TriggerError(f"no trigger {key.trigger_id!r} on flow {key.namespace}.{key.flow_id}")
    return state


def trigger_update(
    *,
    namespace: str,
    flow_id: str,
    trigger_id: str,
    disabled: bool | None = None,
    backfill: BackfillWindow | None = None,
    reason: str = "",
) -> TriggerState:
    """Kestra's "update a trigger": flip the operator's switch and/or start a backfill, in
    one transaction (a refused backfill leaves the switch as it was).

    Asking again for the backfill that is already running (a client sending back the state
    it read) changes nothing. Raises TriggerError (unknown trigger) or BackfillError.
    """
    key = TriggerKey(namespace, flow_id, trigger_id)
    with transaction.atomic():
        state = _existing(key)
        if disabled is not None and disabled != state.disabled:
            state = trigger_set_disabled(**key.kwargs(), disabled=disabled, reason=reason)
        if backfill is not None and not _is_running(state, backfill):
            state = backfill_start(
                **key.kwargs(), start=backfill.start, end=backfill.end,
                inputs=backfill.inputs, labels=backfill.labels,
            )  # fmt: skip
    return state


def _is_running(state: TriggerState, window: BackfillWindow) -> bool:
    current = state.backfill or {}
    if not current or current.get("done"):
        return False
    return (current.get("start"), current.get("end")) == (
        window.start.isoformat(),
        window.end.isoformat(),
    )


def _each(keys: Sequence[TriggerKey], action: Callable[[TriggerKey], object]) -> list[BulkResult]:
    results = []
    for key in keys:
        try:
            with transaction.atomic():
                _existing(key)
                action(key)
        except (TriggerError, BackfillError) as exc:
            results.append(BulkResult(key, False, str(exc)))
        else:
            results.append(BulkResult(key, True))
    return results


def triggers_set_disabled(
    keys: Sequence[TriggerKey], *, disabled: bool, reason: str = ""
) -> list[BulkResult]:
    """Disable or enable each trigger; an unknown one is reported and the others go on."""
    return _each(
        keys,
        lambda k: trigger_set_disabled(**k.kwargs(), disabled=disabled, reason=reason),
    )


def backfills_set_paused(keys: Sequence[TriggerKey], *, paused: bool) -> list[BulkResult]:
    """Pause or resume each trigger's backfill; those without one are reported."""
    return _each(keys, lambda k: backfill_set_paused(**k.kwargs(), paused=paused))


def backfills_delete(keys: Sequence[TriggerKey]) -> list[BulkResult]:
    """Delete each trigger's backfill; those without one are reported."""
    return _each(keys, lambda k: backfill_delete(**k.kwargs()))


def stop_after_check(execution: Execution) -> bool:
    """Disable the trigger that started ``execution`` when its ``stopAfter`` lists the
    execution's final state (Kestra's stopAfter). True when it did."""
    info = execution.trigger or {}
    if not info.get("id") or info.get("type") not in registry.recorded_types():
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
    """The recovery sweep (every 30 s): overdue schedule ticks, then stalled backfills, then
    webhook delivery ids old enough that their timestamps refuse a replay anyway."""
    from django.utils import timezone

    started = recover_schedules(now)
    stalled = stalled_backfills(now)
    for state in stalled:
        with transaction.atomic():
            queue_step(state)
    pruned = prune_deliveries(now or timezone.now())
    return {"started": started, "backfills": len(stalled), "deliveries": pruned}


def on_execution_ended(execution: Execution) -> None:
    """The ``register_execution_ended`` hook: stopAfter first, then listening flows."""
    stop_after_check(execution)
    flow_triggers_evaluate(execution)

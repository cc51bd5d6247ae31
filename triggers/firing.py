"""Start an execution from a trigger, at most once per key.

Every trigger type ends here. ``fire_once`` inserts the TriggerFire row in a savepoint: the
row that gets in wins, a duplicate gets IntegrityError and starts nothing (on PostgreSQL a
concurrent duplicate waits for the winner's commit first). Only then is the execution
created, in the same transaction, so a rollback removes both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction

from executions.models import Execution
from executions.services import InputsError, execution_create
from flows.models import Flow
from kernel.expressions.render import render_value
from kernel.registry import registry
from kernel.secrets import env_vars
from kernel.spec.model import FlowSpec, TriggerSpec
from orchestrator.observability import metrics
from plugins.core import conditions as conditions_module
from triggers.models import TriggerFire, TriggerState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FireKey:
    """What makes a firing unique: a tick, or an upstream execution (or neither: webhooks)."""

    namespace: str
    flow_id: str
    trigger_id: str
    scheduled_date: datetime | None = None
    source_execution_id: str = ""


@dataclass
class Start:
    """Everything ``execution_create`` needs, already rendered."""

    trigger: TriggerSpec
    variables: dict[str, Any]
    inputs: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


def base_context(spec: FlowSpec, **extra: Any) -> dict[str, Any]:
    """What a trigger's own expressions see (inputs, labels, conditions, webhook key)."""
    return {
        "flow": {"id": spec.id, "namespace": spec.namespace},
        "vars": dict(spec.variables),
        "labels": dict(spec.labels),
        "envs": env_vars(),
        **extra,
    }


def conditions_hold(trigger: TriggerSpec, context: Mapping[str, Any]) -> bool:
    """The trigger's ``conditions``; an unknown type or a failing expression counts as false
    (logged), so one bad condition never starts an execution by accident."""
    try:
        return conditions_module.all_hold(trigger.properties.get("conditions"), context)
    except Exception:
        log.warning("trigger %s: a condition failed to evaluate", trigger.id, exc_info=True)
        return False


def render_labels(raw: Any, context: Mapping[str, Any]) -> dict[str, str]:
    """Trigger labels (a map or a list of ``{key, value}``), rendered."""
    if isinstance(raw, list):
        raw = {i.get("key"): i.get("value") for i in raw if isinstance(i, Mapping)}
    rendered = render_value(dict(raw or {}), context)
    return {str(k): "" if v is None else str(v) for k, v in rendered.items()}


def create_execution(flow: Flow, start: Start) -> Execution:
    """The execution, typed inputs first; inputs that do not validate are passed as given,
    as Kestra's triggers do (a trigger is the flow author's own configuration)."""
    trigger = {
        "id": start.trigger.id,
        "type": registry.recorded_type(start.trigger.type),  # Kestra's name (recorded_type)
        "variables": start.variables,
    }
    try:
        with transaction.atomic():
            return execution_create(
                flow=flow, inputs=start.inputs, labels=start.labels, trigger=trigger
            )
    except InputsError as exc:
        log.info("trigger %s of %s: inputs kept unvalidated (%s)", start.trigger.id, flow, exc)
        return execution_create(
            flow=flow,
            inputs=start.inputs,
            labels=start.labels,
            trigger=trigger,
            validate_inputs=False,
        )


def fire_once(
    key: FireKey, flow: Flow, build: Callable[[], Start], *, backfill: bool = False
) -> Execution | None:
    """Create the execution for ``key`` unless someone already did. Caller holds a transaction.

    ``build`` renders the inputs and labels; it runs only for the winner, and an error in it
    (or in the execution's creation) is recorded on the fire row instead of being retried
    forever by every later beat tick.
    """
    try:
        with transaction.atomic():
            fire = TriggerFire.objects.create(
                namespace=key.namespace,
                flow_id=key.flow_id,
                trigger_id=key.trigger_id,
                scheduled_date=key.scheduled_date,
                source_execution_id=key.source_execution_id,
                backfill=backfill,
            )
    except IntegrityError:
        count_skipped(key.namespace, key.flow_id, key.trigger_id, "duplicate")
        return None
    try:
        with transaction.atomic():
            execution = create_execution(flow, build())
    except Exception as exc:
        log.warning("trigger %s of %s could not start an execution", key.trigger_id, flow)
        fire.error = f"{type(exc).__name__}: {exc}"[:2000]
        fire.save(update_fields=["error"])
        count_skipped(key.namespace, key.flow_id, key.trigger_id, "error")
        return None
    metrics.inc_on_commit(
        metrics.TRIGGERS_FIRED, namespace=key.namespace, flow=key.flow_id, trigger=key.trigger_id
    )
    fire.execution_id = execution.id
    fire.save(update_fields=["execution_id"])
    if not backfill:
        record_fire(key, execution)
    return execution


def count_skipped(namespace: str, flow_id: str, trigger_id: str, reason: str) -> None:
    """A trigger event that started nothing: ``duplicate`` (another firing of the same key
    won), ``error`` (inputs or creation failed), ``conditions``, ``missed`` or ``late``."""
    metrics.inc_on_commit(metrics.TRIGGERS_SKIPPED, namespace=namespace, flow=flow_id,
                          trigger=trigger_id, reason=reason)  # fmt: skip


def record_fire(key: FireKey, execution: Execution) -> None:
    """Show the latest firing on the trigger's state (a conditional UPDATE, no lock)."""
    TriggerState.objects.filter(
        namespace=key.namespace, flow_id=key.flow_id, trigger_id=key.trigger_id
    ).update(
        last_fire_date=key.scheduled_date or execution.created_at,
        last_execution_id=execution.id,
    )


def trigger_of(spec: FlowSpec, trigger_id: str) -> TriggerSpec | None:
    return next((t for t in spec.triggers if t.id == trigger_id), None)

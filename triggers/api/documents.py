"""The JSON of a trigger as the API shows it, in Kestra's shape: ``abstractTrigger`` (the
declaration from the flow's YAML) and ``triggerContext`` (its live state: next and last fire,
disabled, polling evaluations, backfill progress)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flows import confidential
from flows.models import Flow
from flows.selectors import flow_spec
from kernel.registry import registry
from kernel.spec.model import TriggerSpec
from triggers.backfills import backfill_progress
from triggers.firing import trigger_of
from triggers.models import TriggerState


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def declaration_document(trigger: TriggerSpec | None) -> dict[str, Any] | None:
    if trigger is None:
        return None
    return {
        "id": trigger.id,
        "type": trigger.raw_type,
        "disabled": trigger.disabled,
        **{k: v for k, v in trigger.properties.items() if k not in ("id", "type", "disabled")},
    }


def backfill_document(state: TriggerState) -> dict[str, Any] | None:
    progress = backfill_progress(state)
    if progress is None:
        return None
    return {
        "start": progress.get("start"),
        "end": progress.get("end"),
        "currentDate": progress.get("cursor"),
        "inputs": progress.get("inputs") or {},
        "labels": progress.get("labels") or {},
        "paused": bool(progress.get("paused")),
        "status": progress["status"],
        "total": progress.get("total", 0),
        "handled": progress.get("handled", 0),
        "created": progress.get("created", 0),
        "skipped": progress.get("skipped", 0),
        "percent": progress["percent"],
        "error": progress.get("error"),
    }


def context_document(state: TriggerState) -> dict[str, Any]:
    next_fire = state.next_date or state.next_evaluation_date
    return {
        "namespace": state.namespace,
        "flowId": state.flow_id,
        "triggerId": state.trigger_id,
        "type": registry.recorded_type(state.type),
        "disabled": state.disabled,
        "disabledReason": state.disabled_reason or None,
        "armed": state.armed,
        "date": iso(state.last_fire_date),
        "nextExecutionDate": iso(next_fire),
        "executionId": state.last_execution_id or None,
        "lastEvaluationDate": iso(state.last_evaluation_date),
        "nextEvaluationDate": iso(state.next_evaluation_date),
        "evaluationStartedDate": iso(state.evaluation_started),
        "lastError": state.last_error or None,
        "backfill": backfill_document(state),
        "updatedDate": iso(state.updated_at),
    }


def trigger_document(state: TriggerState, trigger: TriggerSpec | None) -> dict[str, Any]:
    return {
        "abstractTrigger": declaration_document(trigger),
        "triggerContext": context_document(state),
    }


def document_maker(actor: Any = None) -> Callable[[TriggerState], dict[str, Any]]:
    """A serializer for a page of states that reads each flow (and parses its spec) once.
    A Webhook's key is shown only where ``actor`` may write (issue 21)."""
    flows: dict[tuple[str, str], Flow | None] = {}
    shown: dict[str, bool] = {}

    def document(state: TriggerState) -> dict[str, Any]:
        pair = (state.namespace, state.flow_id)
        if pair not in flows:
            flows[pair] = (
                Flow.objects.live()
                .select_related("namespace")
                .filter(namespace__name=state.namespace, flow_id=state.flow_id)
                .first()
            )
        flow = flows[pair]
        trigger = trigger_of(flow_spec(flow), state.trigger_id) if flow is not None else None
        document = trigger_document(state, trigger)
        if state.namespace not in shown:
            shown[state.namespace] = confidential.may_see(actor, state.namespace)
        if not shown[state.namespace] and document["abstractTrigger"] is not None:
            document["abstractTrigger"] = confidential.hide_trigger(document["abstractTrigger"])
        return document

    return document

"""Reads of trigger state. No writes here: use ``triggers.services``."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce

from triggers.models import TriggerFire, TriggerState
from triggers.polling import polling_types

#: ``type_suffix`` that selects every polling trigger (file, HTTP...).
POLLING = "Polling"


def trigger_states(
    *,
    namespace: str | None = None,
    flow_id: str | None = None,
    type_suffix: str | None = None,
    q: str | None = None,
) -> QuerySet[TriggerState]:
    """Trigger states, optionally of one namespace (and those inside it), one flow, one kind
    (``Schedule``, ``Flow``, ``Webhook``: the end of the type name; ``Polling`` for every
    polling trigger), or whose namespace, flow id or trigger id contains ``q``.

    Each row carries ``next_fire``: the next schedule tick, or a polling trigger's next
    evaluation.
    """
    states = TriggerState.objects.annotate(next_fire=Coalesce("next_date", "next_evaluation_date"))
    if namespace:
        states = states.filter(Q(namespace=namespace) | Q(namespace__startswith=f"{namespace}."))
    if flow_id:
        states = states.filter(flow_id=flow_id)
    if type_suffix == POLLING:
        states = states.filter(type__in=polling_types())
    elif type_suffix:
        states = states.filter(type__endswith=f".{type_suffix}")
    if q:
        states = states.filter(
            Q(namespace__icontains=q) | Q(flow_id__icontains=q) | Q(trigger_id__icontains=q)
        )
    return states.order_by("namespace", "flow_id", "trigger_id")


def trigger_state_get(namespace: str, flow_id: str, trigger_id: str) -> TriggerState:
    """Raises ``TriggerState.DoesNotExist``."""
    return TriggerState.objects.get(namespace=namespace, flow_id=flow_id, trigger_id=trigger_id)


def trigger_fires(namespace: str, flow_id: str, trigger_id: str) -> QuerySet[TriggerFire]:
    """The firings of one trigger, newest first."""
    return TriggerFire.objects.filter(
        namespace=namespace, flow_id=flow_id, trigger_id=trigger_id
    ).order_by("-created_at")

"""Webhook triggers: an HTTP request starts an execution.

No authentication: the key in the URL is the secret. It is compared in constant time with
each Webhook trigger's rendered ``key`` (which may be ``{{ secret('NAME') }}``). A trigger may
also ask for a ``signature`` (``triggers.signatures``): the HMAC of a timestamp, a delivery id
and the raw body under a secret, sent in headers (as Stripe-like senders do), so a leaked URL
alone cannot start the flow and a captured request cannot be replayed. An unknown flow, a
disabled one, a wrong key and a missing or wrong signature all raise the same
WebhookNotFound, so a caller learns nothing about which flows exist. A body nested deeper
than ``kernel.depth.MAX_DEPTH`` raises TooDeep (the view's 422), before anything walks it.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from executions.models import Execution
from flows.models import Flow
from flows.selectors import flow_spec
from kernel.depth import json_loads
from kernel.expressions.render import render, render_value
from kernel.registry import registry
from kernel.spec.model import FlowSpec, TriggerSpec
from triggers.firing import (
    FireKey,
    Start,
    base_context,
    conditions_hold,
    create_execution,
    record_fire,
)
from triggers.models import TriggerState
from triggers.signatures import Signed, check_fresh, remember_delivery, verify

log = logging.getLogger(__name__)


class WebhookNotFound(LookupError):
    """No live flow with a Webhook trigger of that key (deliberately vague)."""


@dataclass(frozen=True)
class WebhookCall:
    """The parts of an HTTP request a webhook execution sees."""

    method: str
    body: bytes = b""
    headers: Mapping[str, list[str]] = field(default_factory=dict)
    parameters: Mapping[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class WebhookResult:
    """``execution`` is None when the trigger's conditions said no."""

    trigger: TriggerSpec
    execution: Execution | None


def max_webhook_bytes() -> int:
    return int(getattr(settings, "TRELLIS_MAX_WEBHOOK_BYTES", 1024 * 1024))


def parse_body(raw: bytes) -> Any:
    """None for an empty body, a JSON object or array when it is one, else the text as sent.
    A JSON body nested too deep raises ``kernel.depth.TooDeep``."""
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    try:
        parsed = json_loads(text)
    except ValueError:
        return text
    return parsed if isinstance(parsed, dict | list) else text


def _expected_key(trigger: TriggerSpec, spec: FlowSpec) -> str | None:
    raw = trigger.properties.get("key")
    if not isinstance(raw, str):
        return None
    try:
        return str(render(raw, base_context(spec)))
    except Exception:  # a missing secret: this trigger cannot match
        log.warning(
            "webhook %s of %s.%s: the key does not render", trigger.id, spec.namespace, spec.id
        )
        return None


def find_webhook(
    namespace: str, flow_id: str, key: str, call: WebhookCall | None = None
) -> tuple[Flow, FlowSpec, TriggerSpec, Signed]:
    """The live, enabled flow and its Webhook trigger whose key is ``key`` (and whose
    signature, when it asks for one, ``call`` carries), with what the signature held."""
    flow = (
        Flow.objects.live()
        .select_related("namespace")
        .filter(namespace__name=namespace, flow_id=flow_id, disabled=False)
        .first()
    )
    if flow is None:
        raise WebhookNotFound
    spec = flow_spec(flow)
    match: tuple[TriggerSpec, Signed] | None = None
    for trigger in spec.triggers:
        if registry.trigger_kind(trigger.type) != "webhook" or trigger.disabled:
            continue
        expected = _expected_key(trigger, spec)
        if expected is None or not hmac.compare_digest(expected.encode(), key.encode()):
            continue
        signed = verify(
            trigger,
            spec,
            body=call.body if call else b"",
            headers=call.headers if call else None,
        )
        if signed is not None:
            match = match or (trigger, signed)
    if match is None:
        raise WebhookNotFound
    silenced = TriggerState.objects.filter(
        namespace=namespace, flow_id=flow_id, trigger_id=match[0].id, disabled=True
    ).exists()
    if silenced:
        raise WebhookNotFound
    return flow, spec, *match


def webhook_fire(
    *,
    namespace: str,
    flow_id: str,
    key: str,
    call: WebhookCall,
    now: datetime | None = None,
) -> WebhookResult:
    """Start the flow from a webhook call. Raises WebhookNotFound, WebhookRefused (a stale
    or replayed signed delivery) and TooDeep; returns a result whose execution is None when
    the conditions are false. A refused call creates nothing."""
    moment = now or timezone.now()
    flow, spec, trigger, signed = find_webhook(namespace, flow_id, key, call)
    remember_until = check_fresh(signed, moment)
    variables = {
        "body": parse_body(call.body),
        "headers": {k: list(v) for k, v in call.headers.items()},
        "parameters": {k: list(v) for k, v in call.parameters.items()},
    }
    context = base_context(spec, trigger=variables)
    holds = conditions_hold(trigger, context)
    inputs = render_value(dict(trigger.properties.get("inputs") or {}), context) if holds else {}
    with transaction.atomic():
        if remember_until is not None:  # the unique key decides, with the execution
            remember_delivery(
                namespace=namespace, flow_id=flow_id, trigger_id=trigger.id,
                delivery=signed.delivery, now=moment, expires_at=remember_until,
            )  # fmt: skip
        if not holds:
            return WebhookResult(trigger=trigger, execution=None)
        execution = create_execution(
            flow, Start(trigger=trigger, variables=variables, inputs=inputs)
        )
        record_fire(FireKey(namespace, flow_id, trigger.id), execution)
    return WebhookResult(trigger=trigger, execution=execution)

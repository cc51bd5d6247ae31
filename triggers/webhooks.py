"""Webhook triggers: an HTTP request starts an execution.

No authentication: the key in the URL is the secret. It is compared in constant time with
each Webhook trigger's rendered ``key`` (which may be ``{{ secret('NAME') }}``). A trigger may
also ask for a ``signature``: the HMAC of the raw body under a secret, sent in a header (as
GitHub, Stripe-like senders do), so a leaked URL alone cannot start the flow. An unknown flow,
a disabled one, a wrong key and a missing or wrong signature all raise the same
WebhookNotFound, so a caller learns nothing about which flows exist.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction

from executions.expressions import render, render_value
from executions.models import Execution
from flows.models import Flow
from flows.selectors import flow_spec
from flows.spec import FlowSpec, TriggerSpec
from triggers.firing import (
    FireKey,
    Start,
    base_context,
    conditions_hold,
    create_execution,
    record_fire,
)
from triggers.models import TriggerState

log = logging.getLogger(__name__)

WEBHOOK = "trellis.core.trigger.Webhook"
#: The signature check's defaults: GitHub's header and algorithm.
DEFAULT_SIGNATURE_HEADER = "X-Hub-Signature-256"
DEFAULT_SIGNATURE_ALGORITHM = "SHA256"
SIGNATURE_ALGORITHMS = ("sha1", "sha256", "sha512")


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
    """None for an empty body, a JSON object or array when it is one, else the text as sent."""
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    try:
        parsed = json.loads(text)
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


def signature_ok(trigger: TriggerSpec, spec: FlowSpec, call: WebhookCall | None) -> bool:
    """True when the trigger asks for no ``signature``, or the request carries the HMAC of
    its body under the trigger's secret in the configured header (``sha256=`` prefix
    optional, hex digest, compared in constant time). A secret that does not render, a
    missing header or a wrong digest are all False."""
    wanted = trigger.properties.get("signature")
    if not isinstance(wanted, Mapping):
        return True
    if call is None:
        return False
    algorithm = str(wanted.get("algorithm") or DEFAULT_SIGNATURE_ALGORITHM).lower()
    header = str(wanted.get("header") or DEFAULT_SIGNATURE_HEADER).lower()
    try:
        secret = str(render(str(wanted.get("secret") or ""), base_context(spec)))
    except Exception:  # a missing secret: nothing can match
        log.warning("webhook %s of %s.%s: the signature secret does not render",
                    trigger.id, spec.namespace, spec.id)  # fmt: skip
        return False
    if not secret or algorithm not in SIGNATURE_ALGORITHMS:
        return False
    sent = next(iter(call.headers.get(header) or ()), "").strip()
    label, equals, digest = sent.partition("=")
    if equals and label.lower() == algorithm:
        sent = digest
    expected = hmac.new(secret.encode(), call.body, algorithm).hexdigest()
    return hmac.compare_digest(sent.lower().encode(), expected.encode())


def find_webhook(
    namespace: str, flow_id: str, key: str, call: WebhookCall | None = None
) -> tuple[Flow, FlowSpec, TriggerSpec]:
    """The live, enabled flow and its Webhook trigger whose key is ``key`` (and whose
    signature, when it asks for one, ``call`` carries)."""
    flow = (
        Flow.objects.live()
        .select_related("namespace")
        .filter(namespace__name=namespace, flow_id=flow_id, disabled=False)
        .first()
    )
    if flow is None:
        raise WebhookNotFound
    spec = flow_spec(flow)
    match: TriggerSpec | None = None
    for trigger in spec.triggers:
        if trigger.type != WEBHOOK or trigger.disabled:
            continue
        expected = _expected_key(trigger, spec)
        if expected is None or not hmac.compare_digest(expected.encode(), key.encode()):
            continue
        if signature_ok(trigger, spec, call):
            match = match or trigger
    if match is None:
        raise WebhookNotFound
    silenced = TriggerState.objects.filter(
        namespace=namespace, flow_id=flow_id, trigger_id=match.id, disabled=True
    ).exists()
    if silenced:
        raise WebhookNotFound
    return flow, spec, match


def webhook_fire(*, namespace: str, flow_id: str, key: str, call: WebhookCall) -> WebhookResult:
    """Start the flow from a webhook call. Raises WebhookNotFound; returns a result whose
    execution is None when the conditions are false."""
    flow, spec, trigger = find_webhook(namespace, flow_id, key, call)
    variables = {
        "body": parse_body(call.body),
        "headers": {k: list(v) for k, v in call.headers.items()},
        "parameters": {k: list(v) for k, v in call.parameters.items()},
    }
    context = base_context(spec, trigger=variables)
    if not conditions_hold(trigger, context):
        return WebhookResult(trigger=trigger, execution=None)
    inputs = render_value(dict(trigger.properties.get("inputs") or {}), context)
    with transaction.atomic():
        execution = create_execution(
            flow, Start(trigger=trigger, variables=variables, inputs=inputs)
        )
        record_fire(FireKey(namespace, flow_id, trigger.id), execution)
    return WebhookResult(trigger=trigger, execution=execution)

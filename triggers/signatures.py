"""Signed webhooks: who sent a request, when, and whether it was seen before (issue 21).

A trigger with ``signature`` needs the HMAC, under its secret, of::

    <timestamp> "." <delivery id> "." <raw body>

sent hex-encoded in ``header`` (default ``X-Hub-Signature-256``, ``sha256=`` prefix
optional), with the timestamp (Unix seconds) in ``timestampHeader`` (default
``X-Trellis-Timestamp``) and a sender-chosen unique id in ``deliveryHeader`` (default
``X-Trellis-Delivery``). Both are inside the signed text, so neither can be changed without
the secret. A request that does not verify is indistinguishable from a wrong key (404). One
that verifies is then judged on freshness: a timestamp further than the tolerance (default
``TRELLIS_WEBHOOK_TOLERANCE_SECONDS``, 5 minutes; ``signature.tolerance`` per trigger) from
this server's clock is refused (400), and a delivery id this trigger has accepted before is
refused (409) — see :class:`triggers.models.WebhookDelivery`.

``replayProtection: false`` keeps the body-only HMAC senders without a timestamp (GitHub's
own webhooks) can produce; such a request can be replayed by whoever captured it.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from kernel.durations import parse_duration
from kernel.expressions.render import render
from kernel.spec.model import FlowSpec, TriggerSpec
from triggers.firing import base_context
from triggers.models import WebhookDelivery

log = logging.getLogger(__name__)

#: The signature check's defaults: GitHub's header and algorithm.
DEFAULT_SIGNATURE_HEADER = "X-Hub-Signature-256"
DEFAULT_SIGNATURE_ALGORITHM = "SHA256"
DEFAULT_TIMESTAMP_HEADER = "X-Trellis-Timestamp"
DEFAULT_DELIVERY_HEADER = "X-Trellis-Delivery"
SIGNATURE_ALGORITHMS = ("sha1", "sha256", "sha512")
_TIMESTAMP = re.compile(r"\d{1,12}")
_DELIVERY = re.compile(r"[\x21-\x7e]{1,200}")  # visible ASCII, no spaces


class WebhookRefused(Exception):
    """A request whose signature verified but which may not start the flow."""

    status_code = 400


class StaleWebhook(WebhookRefused):
    status_code = 400


class ReplayedWebhook(WebhookRefused):
    status_code = 409


@dataclass(frozen=True)
class Signed:
    """What a verified request carried. ``delivery`` is empty without replay protection."""

    timestamp: str = ""
    delivery: str = ""
    tolerance: timedelta = timedelta(0)

    @property
    def protected(self) -> bool:
        return bool(self.delivery)


#: A trigger without ``signature``: nothing to verify.
UNSIGNED = Signed()


def tolerance_of(wanted: Mapping[str, Any]) -> timedelta:
    raw = wanted.get("tolerance")
    if raw is None:
        return timedelta(seconds=settings.TRELLIS_WEBHOOK_TOLERANCE_SECONDS)
    return parse_duration(raw)


def _header(headers: Mapping[str, Sequence[str]], name: str) -> str:
    return next(iter(headers.get(name.lower()) or ()), "").strip()


def verify(
    trigger: TriggerSpec,
    spec: FlowSpec,
    *,
    body: bytes,
    headers: Mapping[str, Sequence[str]] | None,
) -> Signed | None:
    """UNSIGNED when the trigger asks for no ``signature``; what the request carried when
    its HMAC is right; None otherwise (a secret that does not render, a missing header, a
    wrong digest). Freshness is judged afterwards, by :func:`check_fresh`."""
    wanted = trigger.properties.get("signature")
    if not isinstance(wanted, Mapping):
        return UNSIGNED
    if headers is None:
        return None
    algorithm = str(wanted.get("algorithm") or DEFAULT_SIGNATURE_ALGORITHM).lower()
    try:
        secret = str(render(str(wanted.get("secret") or ""), base_context(spec)))
    except Exception:  # a missing secret: nothing can match
        log.warning("webhook %s of %s.%s: the signature secret does not render",
                    trigger.id, spec.namespace, spec.id)  # fmt: skip
        return None
    if not secret or algorithm not in SIGNATURE_ALGORITHMS:
        return None
    signed = UNSIGNED
    content = body
    if wanted.get("replayProtection") is not False:
        timestamp = _header(headers, str(wanted.get("timestampHeader") or DEFAULT_TIMESTAMP_HEADER))
        delivery = _header(headers, str(wanted.get("deliveryHeader") or DEFAULT_DELIVERY_HEADER))
        if not timestamp or not delivery:
            return None
        signed = Signed(timestamp, delivery, tolerance_of(wanted))
        content = f"{timestamp}.{delivery}.".encode() + body
    sent = _header(headers, str(wanted.get("header") or DEFAULT_SIGNATURE_HEADER))
    label, equals, digest = sent.partition("=")
    if equals and label.lower() == algorithm:
        sent = digest
    expected = hmac.new(secret.encode(), content, algorithm).hexdigest()
    if not hmac.compare_digest(sent.lower().encode(), expected.encode()):
        return None
    return signed


def check_fresh(signed: Signed, now: datetime) -> datetime | None:
    """Raise StaleWebhook for a malformed or out-of-tolerance timestamp or a malformed
    delivery id; return until when the delivery id must be remembered (None: unprotected)."""
    if not signed.protected:
        return None
    if not _TIMESTAMP.fullmatch(signed.timestamp):
        raise StaleWebhook("the webhook timestamp must be Unix seconds (digits only)")
    if not _DELIVERY.fullmatch(signed.delivery):
        raise StaleWebhook(
            "the webhook delivery id must be 1 to 200 visible ASCII characters, no spaces"
        )
    # Compared as numbers first: a far-off timestamp may not be a representable date.
    skew = abs(now.timestamp() - int(signed.timestamp))
    if skew > signed.tolerance.total_seconds():
        raise StaleWebhook(
            f"the webhook timestamp {signed.timestamp} is {int(skew)} s from "
            f"this server's clock; the tolerance is {int(signed.tolerance.total_seconds())} s"
        )
    sent = datetime.fromtimestamp(int(signed.timestamp), tz=UTC)
    return max(now, sent) + signed.tolerance


def remember_delivery(
    *, namespace: str, flow_id: str, trigger_id: str, delivery: str, now: datetime,
    expires_at: datetime,
) -> None:  # fmt: skip
    """Record the delivery id; ReplayedWebhook when this trigger accepted it before.

    Call inside the transaction that creates the execution, so both are kept or neither.
    A savepoint keeps the caller's transaction usable after the unique key refuses."""
    try:
        with transaction.atomic():
            WebhookDelivery.objects.create(
                namespace=namespace, flow_id=flow_id, trigger_id=trigger_id,
                delivery_id=delivery, received_at=now, expires_at=expires_at,
            )  # fmt: skip
    except IntegrityError:
        raise ReplayedWebhook(
            f"delivery {delivery!r} was already received; a delivery is accepted once"
        ) from None


def prune_deliveries(now: datetime) -> int:
    """Forget delivery ids whose timestamps are now stale anyway (one minute of margin for
    clocks that differ between web servers)."""
    cutoff = now - timedelta(minutes=1)
    deleted, _ = WebhookDelivery.objects.filter(expires_at__lt=cutoff).delete()
    return deleted

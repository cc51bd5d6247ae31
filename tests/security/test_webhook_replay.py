"""Issue 21, webhook replay: a correctly signed request replayed three times made three
executions. Signed webhooks now carry a timestamp and a delivery id inside the signed text;
a stale timestamp is refused (400), a delivery id seen before is refused (409), and neither
creates anything. A deep JSON body is a 422 and no execution."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from executions.models import Execution
from flows.services import flow_deploy
from tests.db.api_support import problem
from triggers.models import WebhookDelivery
from triggers.services import WebhookCall, recover, webhook_fire
from triggers.signatures import ReplayedWebhook

pytestmark = pytest.mark.django_db

SECRET = b"signing-secret"
URL = "/api/v1/executions/webhook/t.hooks/webhook/a-secret-key"
FLOW = """id: webhook
namespace: t.hooks
tasks:
  - id: out
    type: io.kestra.plugin.core.debug.Return
    format: "{{ trigger.body }}"
triggers:
  - id: webhook
    type: io.kestra.plugin.core.trigger.Webhook
    key: a-secret-key
"""
SIGNED = FLOW + "    signature:\n      secret: \"{{ secret('HOOK_SIGNING') }}\"\n"


def signed_headers(
    body: bytes, delivery: str, *, timestamp: int | None = None, secret: bytes = SECRET
) -> dict[str, str]:
    """What a sender sends: the HMAC-SHA256 of ``<timestamp>.<delivery>.<body>``."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret, f"{stamp}.{delivery}.".encode() + body, hashlib.sha256)
    return {
        "HTTP_X_TRELLIS_TIMESTAMP": stamp,
        "HTTP_X_TRELLIS_DELIVERY": delivery,
        "HTTP_X_HUB_SIGNATURE_256": f"sha256={digest.hexdigest()}",
    }


@pytest.fixture
def client() -> APIClient:
    return APIClient()


@pytest.fixture
def signed(monkeypatch):
    monkeypatch.setenv("SECRET_HOOK_SIGNING", base64.b64encode(SECRET).decode())
    return flow_deploy(source=SIGNED).flow


def post(client, body: bytes, headers: dict[str, str]):
    return client.post(URL, body, content_type="application/json", **headers)


def test_a_signed_delivery_replayed_three_times_makes_exactly_one_execution(client, signed) -> None:
    body = b'{"ref": "main"}'
    headers = signed_headers(body, "delivery-42")

    first = post(client, body, headers)
    replays = [post(client, body, headers) for _ in range(3)]

    assert first.status_code == 200, first.content
    for replay in replays:
        refused = problem(replay, 409)
        assert refused["detail"] == (
            "delivery 'delivery-42' was already received; a delivery is accepted once"
        )
    assert Execution.objects.count() == 1
    assert WebhookDelivery.objects.get().delivery_id == "delivery-42"
    # a new delivery of the same body is a new event
    assert post(client, body, signed_headers(body, "delivery-43")).status_code == 200
    assert Execution.objects.count() == 2


def test_a_stale_or_future_timestamp_is_refused_and_creates_nothing(client, signed) -> None:
    body = b"{}"
    now = int(time.time())
    for stamp, delivery in ((now - 600, "old"), (now + 600, "early")):
        refused = problem(post(client, body, signed_headers(body, delivery, timestamp=stamp)), 400)
        assert "from this server's clock; the tolerance is 300 s" in refused["detail"]
    refused = problem(post(client, body, signed_headers(body, "d", timestamp=999_999_999_999)), 400)
    assert "tolerance" in refused["detail"]
    assert Execution.objects.count() == 0
    assert not WebhookDelivery.objects.exists()
    # inside the window on either side is fine
    assert post(client, body, signed_headers(body, "near", timestamp=now - 200)).status_code == 200


def test_the_tolerance_is_set_per_trigger_or_by_setting(client, monkeypatch, settings) -> None:
    monkeypatch.setenv("SECRET_HOOK_SIGNING", base64.b64encode(SECRET).decode())
    flow_deploy(source=SIGNED + "      tolerance: PT1M\n")
    body = b"{}"
    two_minutes_ago = int(time.time()) - 120
    assert (
        post(client, body, signed_headers(body, "a", timestamp=two_minutes_ago)).status_code == 400
    )
    flow_deploy(source=SIGNED)
    settings.TRELLIS_WEBHOOK_TOLERANCE_SECONDS = 60
    assert (
        post(client, body, signed_headers(body, "b", timestamp=two_minutes_ago)).status_code == 400
    )
    settings.TRELLIS_WEBHOOK_TOLERANCE_SECONDS = 300
    assert (
        post(client, body, signed_headers(body, "c", timestamp=two_minutes_ago)).status_code == 200
    )


def test_a_bad_signature_is_refused_like_a_wrong_key(client, signed) -> None:
    body = b'{"ref": "main"}'
    good = signed_headers(body, "d-1")
    for headers in (
        signed_headers(body, "d-1", secret=b"guessed"),  # wrong secret
        {**good, "HTTP_X_TRELLIS_DELIVERY": "d-2"},  # a replay under a new delivery id
        {**good, "HTTP_X_TRELLIS_TIMESTAMP": str(int(time.time()) + 1)},  # a new timestamp
        {k: v for k, v in good.items() if k != "HTTP_X_TRELLIS_TIMESTAMP"},  # no timestamp
        {k: v for k, v in good.items() if k != "HTTP_X_TRELLIS_DELIVERY"},  # no delivery id
        {},
    ):
        refused = problem(post(client, body, headers), 404)
        assert refused["detail"] == "Not Found: Flow not found"
    assert problem(post(client, b'{"ref": "evil"}', good), 404)  # another body
    assert Execution.objects.count() == 0
    assert not WebhookDelivery.objects.exists()


def test_a_malformed_timestamp_that_was_signed_is_a_clear_400(client, signed) -> None:
    body = b"{}"
    headers = signed_headers(body, "d-1")
    stamp = "2026-12-07T00:00:00Z"
    digest = hmac.new(SECRET, f"{stamp}.d-1.".encode() + body, hashlib.sha256).hexdigest()
    headers.update(HTTP_X_TRELLIS_TIMESTAMP=stamp, HTTP_X_HUB_SIGNATURE_256=digest)

    refused = problem(post(client, body, headers), 400)

    assert refused["detail"] == "the webhook timestamp must be Unix seconds (digits only)"
    assert Execution.objects.count() == 0


def test_unsigned_key_only_webhooks_work_as_before(client) -> None:
    flow_deploy(source=FLOW)
    for _ in range(3):  # as Kestra's: the key is the only secret, each call is a new event
        assert client.post(URL, {"a": 1}, format="json").status_code == 200
    assert Execution.objects.count() == 3
    assert not WebhookDelivery.objects.exists()


def test_a_deep_webhook_body_is_422_and_makes_no_execution(client, signed) -> None:
    flow_deploy(source=FLOW)  # unsigned: the body is the only thing in the way
    body = ('{"event": ' + "[" * 100_000 + "]" * 100_000 + "}").encode()

    refused = problem(client.post(URL, body, content_type="application/json"), 422)

    assert refused["type"] == "urn:trellis:problem:too-deep"
    assert refused["errors"][0]["field"].startswith("body.event[0][0]")
    assert Execution.objects.count() == 0
    wrong_key = client.post(
        URL.replace("a-secret-key", "nope"), body, content_type="application/json"
    )
    assert wrong_key.status_code == 404  # a stranger learns nothing, deep body or not


def test_a_signed_deep_body_records_no_delivery(client, signed) -> None:
    body = ("[" * 500 + "]" * 500).encode()
    headers = signed_headers(body, "deep-1")

    problem(post(client, body, headers), 422)

    assert Execution.objects.count() == 0
    assert not WebhookDelivery.objects.exists()


def test_delivery_ids_are_kept_for_the_window_then_pruned_by_the_recovery_sweep(signed) -> None:
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    body = b"{}"
    headers = signed_headers(body, "d-1", timestamp=int(now.timestamp()))
    call = WebhookCall(
        method="POST",
        body=body,
        headers={
            "x-trellis-timestamp": [headers["HTTP_X_TRELLIS_TIMESTAMP"]],
            "x-trellis-delivery": [headers["HTTP_X_TRELLIS_DELIVERY"]],
            "x-hub-signature-256": [headers["HTTP_X_HUB_SIGNATURE_256"]],
        },
    )
    fire = dict(namespace="t.hooks", flow_id="webhook", key="a-secret-key", call=call)
    assert webhook_fire(**fire, now=now).execution is not None

    recover(now + timedelta(minutes=4))  # still inside the window: kept
    with pytest.raises(ReplayedWebhook):
        webhook_fire(**fire, now=now + timedelta(minutes=4, seconds=59))
    recover(now + timedelta(minutes=7))  # past timestamp + tolerance + margin: forgotten
    assert not WebhookDelivery.objects.exists()
    assert Execution.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_three_copies_arriving_at_once_make_one_execution(monkeypatch) -> None:
    """The unique key decides, not a lookup: copies racing each other (one thread each, each
    with its own database connection) still make one execution."""
    import threading

    from django.db import connection

    monkeypatch.setenv("SECRET_HOOK_SIGNING", base64.b64encode(SECRET).decode())
    flow_deploy(source=SIGNED)
    body = b'{"ref": "race"}'
    headers = signed_headers(body, "race-1")
    start = threading.Barrier(3)
    statuses: list[int] = []

    def send() -> None:
        try:
            start.wait()
            statuses.append(post(APIClient(), body, headers).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(statuses) == [200, 409, 409]
    assert Execution.objects.count() == 1

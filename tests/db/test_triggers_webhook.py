"""Webhook triggers through the Django test client: 200, 204, 404 and 413."""

from __future__ import annotations

import base64
import json
import time

import pytest
from rest_framework.test import APIClient

from executions.models import Execution
from flows.services import flow_deploy, flow_set_disabled
from kernel.states import State

pytestmark = pytest.mark.django_db

URL = "/api/v1/executions/webhook/t.hooks/webhook/a-secret-key"
FLOW = """id: webhook
namespace: t.hooks
labels:
  flow-label-1: flow-label-1
  flow-label-2: flow-label-2
tasks:
  - id: out
    type: io.kestra.plugin.core.debug.Return
    format: "{{ trigger | json }}"
triggers:
  - id: webhook
    type: io.kestra.plugin.core.trigger.Webhook
    key: a-secret-key
"""


@pytest.fixture
def client() -> APIClient:
    return APIClient()  # no credentials: the key is the secret


@pytest.fixture
def hook():
    return flow_deploy(source=FLOW).flow


def variables(response) -> dict:
    assert response.status_code == 200, response.content
    return Execution.objects.get(pk=response.json()["id"]).trigger["variables"]


def test_json_body_query_parameters_and_flow_labels(client, hook) -> None:
    response = client.post(f"{URL}?name=john&age=12&age=13", {"a": 1, "b": True}, format="json")
    got = variables(response)
    assert got["body"] == {"a": 1, "b": True}
    assert got["parameters"] == {"name": ["john"], "age": ["12", "13"]}
    assert got["headers"]["content-type"] == ["application/json"]
    execution = Execution.objects.get(pk=response.json()["id"])
    assert list(execution.labels.items())[:2] == [
        ("flow-label-1", "flow-label-1"), ("flow-label-2", "flow-label-2"),
    ]  # fmt: skip
    assert execution.trigger["type"] == "io.kestra.plugin.core.trigger.Webhook"
    assert response.json()["state"] == State.CREATED


def test_bodies_are_parsed_only_when_they_are_json_objects_or_arrays(client, hook) -> None:
    assert variables(client.put(URL, [{"a": 1}], format="json"))["body"] == [{"a": 1}]
    assert variables(client.post(URL, "bla", content_type="text/plain"))["body"] == "bla"
    broken = '{"a": \\"x\\"}'
    assert variables(client.post(URL, broken, content_type="application/json"))["body"] == broken
    assert variables(client.get(URL))["body"] is None


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/executions/webhook/t.hooks/webhook/wrong-key",
        "/api/v1/executions/webhook/not-found/webhook/not-found",
        "/api/v1/executions/webhook/t.hooks/nope/a-secret-key",
    ],
)
def test_wrong_key_and_unknown_flow_are_the_same_404(client, hook, url) -> None:
    for method in (client.get, client.post, client.put):
        response = method(url)
        assert response.status_code == 404
        assert response.json()["detail"] == "Not Found: Flow not found"
    assert Execution.objects.count() == 0


def test_a_disabled_flow_is_not_found(client, hook) -> None:
    flow_set_disabled(flow=hook, disabled=True)
    assert client.post(URL).status_code == 404


def test_too_large_bodies_are_refused(client, hook, settings) -> None:
    settings.TRELLIS_MAX_WEBHOOK_BYTES = 16
    response = client.post(URL, "x" * 17, content_type="text/plain")
    assert response.status_code == 413
    assert client.post(URL, "x" * 16, content_type="text/plain").status_code == 200
    assert Execution.objects.count() == 1


def test_false_conditions_answer_204_and_start_nothing(client) -> None:
    flow_deploy(
        source=FLOW
        + "    conditions:\n"
        + "      - type: io.kestra.plugin.core.condition.Expression\n"
        + '        expression: "{{ trigger.body.go == true }}"\n'
    )
    assert client.post(URL, {"go": False}, format="json").status_code == 204
    assert Execution.objects.count() == 0
    assert client.post(URL, {"go": True}, format="json").status_code == 200


def test_the_key_may_be_a_secret(client, monkeypatch) -> None:
    monkeypatch.setenv("SECRET_WEBHOOK_KEY", base64.b64encode(b"secretKey").decode())
    flow_deploy(source=FLOW.replace("key: a-secret-key", "key: \"{{ secret('WEBHOOK_KEY') }}\""))
    assert client.post("/api/v1/executions/webhook/t.hooks/webhook/secretKey").status_code == 200
    assert client.post(URL).status_code == 404


def test_wait_answers_with_the_outputs(client, monkeypatch) -> None:
    flow_deploy(source=FLOW + "    wait: true\n    returnOutputs: true\n")

    def finished(execution_id: str, timeout: float = 60.0) -> Execution:
        execution = Execution.objects.get(pk=execution_id)
        execution.state, execution.outputs = State.SUCCESS, {"answer": 42}
        execution.save()
        return execution

    monkeypatch.setattr("triggers.api.views.execution_wait", finished)
    response = client.post(URL, {"a": 1}, format="json")
    assert response.status_code == 200
    assert json.loads(response.content) == {"answer": 42}


SIGNED = FLOW + ("    signature:\n      secret: \"{{ secret('HOOK_SIGNING') }}\"\n")


def sign(body: bytes, secret: bytes = b"signing-secret", algorithm: str = "sha256") -> str:
    import hashlib
    import hmac

    return hmac.new(secret, body, getattr(hashlib, algorithm)).hexdigest()


@pytest.fixture
def signed(monkeypatch):
    monkeypatch.setenv("SECRET_HOOK_SIGNING", base64.b64encode(b"signing-secret").decode())
    return flow_deploy(source=SIGNED).flow


def stamped(body: bytes, delivery: str, secret: bytes = b"signing-secret") -> dict[str, str]:
    """The headers of a signed delivery sent now (see triggers.signatures)."""
    timestamp = str(int(time.time()))
    signed = f"{timestamp}.{delivery}.".encode() + body
    return {
        "HTTP_X_TRELLIS_TIMESTAMP": timestamp,
        "HTTP_X_TRELLIS_DELIVERY": delivery,
        "HTTP_X_HUB_SIGNATURE_256": f"sha256={sign(signed, secret)}",
    }


def test_a_signed_webhook_needs_the_hmac_of_timestamp_delivery_and_body(client, signed) -> None:
    body = b'{"ref": "main"}'
    header = "HTTP_X_HUB_SIGNATURE_256"
    ok = client.post(URL, body, content_type="application/json", **stamped(body, "d-1"))
    assert variables(ok)["body"] == {"ref": "main"}
    bare = stamped(body, "d-2")
    bare[header] = bare[header].removeprefix("sha256=")
    assert client.post(URL, body, content_type="application/json", **bare).status_code == 200
    for headers in (
        {},  # missing
        {header: f"sha256={sign(body)}"},  # the body alone, without timestamp and delivery
        stamped(body, "d-3", b"another secret"),  # wrong secret
        {**stamped(b"{}", "d-4"), header: stamped(b"{}", "d-4")[header]},  # another body's
        {**stamped(body, "d-5"), "HTTP_X_TRELLIS_DELIVERY": "d-6"},  # delivery id changed
    ):
        refused = client.post(URL, body, content_type="application/json", **headers)
        assert refused.status_code == 404
        assert refused.json()["detail"] == "Not Found: Flow not found"  # as for a wrong key
    assert Execution.objects.count() == 2


def test_without_replay_protection_the_body_alone_is_signed(client, monkeypatch) -> None:
    monkeypatch.setenv("SECRET_HOOK_SIGNING", base64.b64encode(b"signing-secret").decode())
    flow_deploy(source=SIGNED + "      replayProtection: false\n")
    body = b'{"ref": "main"}'
    signature = {"HTTP_X_HUB_SIGNATURE_256": f"sha256={sign(body)}"}
    for _ in range(2):  # GitHub-style senders: no timestamp, so a copy is not recognised
        assert (
            client.post(URL, body, content_type="application/json", **signature).status_code == 200
        )


def test_signature_header_and_algorithm_are_configurable(client, monkeypatch) -> None:
    monkeypatch.setenv("SECRET_HOOK_SIGNING", base64.b64encode(b"signing-secret").decode())
    flow_deploy(
        source=SIGNED + "      header: X-Signature\n      algorithm: SHA1\n"
        "      replayProtection: false\n"
    )
    body = b"plain text"
    signature = sign(body, algorithm="sha1")
    assert (
        client.post(URL, body, content_type="text/plain", HTTP_X_SIGNATURE=signature).status_code
        == 200
    )
    assert (
        client.post(
            URL, body, content_type="text/plain", HTTP_X_HUB_SIGNATURE_256=sign(body)
        ).status_code
        == 404
    )


def test_a_signature_secret_that_does_not_render_matches_nothing(client) -> None:
    flow_deploy(source=SIGNED)  # SECRET_HOOK_SIGNING is not set
    body = b"{}"
    response = client.post(URL, body, content_type="application/json", **stamped(body, "d-1"))
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        ("    signature: yes\n", "must be a mapping, not 'yes'"),
        ("    signature:\n      header: X-Sig\n", "a webhook signature needs a `secret`"),
        ("    signature:\n      secret: s\n      algorithm: MD5\n",
         "`algorithm` must be one of SHA256, SHA1, SHA512"),
        ("    signature:\n      secret: s\n      salt: x\n", "unknown signature property 'salt'"),
        ("    signature:\n      secret: s\n      tolerance: soon\n", "`tolerance` must be an ISO"),
        ("    signature:\n      secret: s\n      tolerance: P2D\n", "between 1 second and 1 day"),
        ("    signature:\n      secret: s\n      replayProtection: maybe\n",
         "`replayProtection` must be true or false"),
    ],
)  # fmt: skip
def test_bad_signature_declarations_are_refused_at_deploy(signature, message) -> None:
    import re

    from kernel.spec.model import SpecError

    with pytest.raises(SpecError, match=re.escape(message)):
        flow_deploy(source=FLOW + signature)

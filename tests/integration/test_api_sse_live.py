"""Server-sent events read by a real HTTP client from a running server (issue 6): the events
arrive while the execution runs, not all at once at its end."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest

from executions.models import Execution
from flows.services import flow_deploy
from kernel.states import TERMINAL
from orchestrator.api.tokens import token_create
from tests.db.api_support import writer

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FLOW = """
id: live-follow
namespace: it.sse
tasks:
  - id: first
    type: io.kestra.plugin.core.log.Log
    message: before the nap
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT2S
  - id: last
    type: io.kestra.plugin.core.log.Log
    message: after the nap
"""


def frames(response: http.client.HTTPResponse):
    """``(event, data)`` pairs as they arrive on the socket; comments are skipped."""
    event, data = None, []
    while True:
        raw = response.readline()
        if not raw:
            return
        line = raw.decode().rstrip("\n")
        if not line:
            if event is not None:
                yield event, json.loads("\n".join(data))
            event, data = None, []
        elif line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data.append(line.removeprefix("data: "))


def test_follow_streams_over_http_while_the_execution_runs(workers, live_server, django_user_model):
    flow_deploy(source=FLOW)
    headers = {"Authorization": f"Bearer {token_create(user=writer(django_user_model, 'sse')).key}"}
    address = urlsplit(live_server.url)
    run = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    run.request("POST", "/api/v1/executions/it.sse/live-follow", body="{}",
                headers={**headers, "Content-Type": "application/json"})  # fmt: skip
    execution_id = json.loads(run.getresponse().read())["id"]

    follow = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    follow.request("GET", f"/api/v1/executions/{execution_id}/follow",
                   headers={**headers, "Accept": "text/event-stream"})  # fmt: skip
    response = follow.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type").startswith("text/event-stream")

    seen_while_running, states = False, []
    for event, data in frames(response):
        if event == "end":
            assert data == {"reason": "done"}
            break
        states.append(data["state"]["current"])
        if Execution.objects.get(pk=execution_id).state not in TERMINAL:
            seen_while_running = True
    assert seen_while_running, "every event came after the execution had ended"
    assert states[-1] == "SUCCESS"

    logs = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    logs.request("GET", f"/api/v1/logs/{execution_id}/follow", headers=headers)
    messages = [data.get("message") for event, data in frames(logs.getresponse()) if event == "log"]
    assert {"before the nap", "after the nap"} <= set(messages)

"""Flow triggers for real: an upstream flow's SUCCESS starts its listener on the workers."""

from __future__ import annotations

import pytest

from executions.models import Execution
from executions.services import execution_create, execution_wait
from flows.services import flow_deploy
from kernel.states import State
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

UPSTREAM = """id: upstream
namespace: it.triggers
tasks:
  - id: only
    type: io.kestra.plugin.core.debug.Return
    format: "from {{ execution.id }}"
"""
LISTENER = """id: listener
namespace: it.triggers.down
inputs:
  - id: said
    type: STRING
tasks:
  - id: echo
    type: io.kestra.plugin.core.debug.Return
    format: "heard {{ inputs.said }} via {{ trigger.flowId }}"
triggers:
  - id: after-upstream
    type: io.kestra.plugin.core.trigger.Flow
    inputs:
      said: "{{ outputs.only.value }}"
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionStatus
        in: [SUCCESS]
      - type: io.kestra.plugin.core.condition.ExecutionFlow
        namespace: it.triggers
        flowId: upstream
"""


def test_a_flow_triggered_by_another_flows_success_runs(workers) -> None:
    upstream = flow_deploy(source=UPSTREAM).flow
    flow_deploy(source=LISTENER)
    first = execution_create(flow=upstream)
    assert execution_wait(first.id, timeout=60).state == State.SUCCESS

    def listener_done() -> Execution | None:
        found = Execution.objects.filter(namespace="it.triggers.down", flow_id="listener").first()
        return found if found is not None and found.state == State.SUCCESS else None

    child = wait_for(listener_done, timeout=60)
    assert child.inputs == {"said": f"from {first.id}"}
    assert child.trigger["variables"]["executionId"] == first.id
    echo = child.task_runs.get(task_id="echo")
    assert echo.outputs == {"value": f"heard from {first.id} via upstream"}
    assert Execution.objects.filter(flow_id="listener").count() == 1


SECONDS_FLOW = """id: every-two-seconds
namespace: it.triggers
tasks:
  - id: only
    type: io.kestra.plugin.core.debug.Return
    format: "{{ trigger.date }}"
triggers:
  - id: tick
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "*/2 * * * * *"
    withSeconds: true
"""


def test_two_database_beats_start_one_execution_per_seconds_tick(workers) -> None:
    import subprocess

    from django.conf import settings

    from flows.services import flow_delete
    from orchestrator import processes
    from triggers.models import TriggerFire

    flow = flow_deploy(source=SECONDS_FLOW).flow
    beats = [
        subprocess.Popen(
            processes.scheduler_cmd(),
            cwd=settings.BASE_DIR,
            env=workers.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        for _ in range(2)
    ]
    try:
        wait_for(lambda: Execution.objects.filter(flow_id="every-two-seconds").count() >= 3, 90)
    finally:
        flow_delete(flow=flow)
        for beat in beats:
            beat.terminate()
        for beat in beats:
            # Stopping is not what this test asserts: a beat saving its schedule behind a busy
            # SQLite lock on a loaded machine may take longer than its tick.
            try:
                beat.wait(timeout=60)
            except subprocess.TimeoutExpired:
                beat.kill()
                beat.wait()
    executions = list(Execution.objects.filter(flow_id="every-two-seconds"))
    dates = [e.trigger["variables"]["date"] for e in executions]
    assert len(dates) == len(set(dates))  # never two executions for one tick
    assert all(int(d[17:19]) % 2 == 0 for d in dates)
    assert TriggerFire.objects.filter(flow_id="every-two-seconds").count() == len(executions)


CHAIN = """id: {me}
namespace: it.chain
tasks:
  - id: say
    type: io.kestra.plugin.core.debug.Return
    format: "{me} after {{{{ trigger.flowId ?? 'nobody' }}}}"
"""
LISTEN = """triggers:
  - id: after-{upstream}
    type: io.kestra.plugin.core.trigger.Flow
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionStatus
        in: [SUCCESS]
      - type: io.kestra.plugin.core.condition.ExecutionFlow
        namespace: it.chain
        flowId: {upstream}
"""


def test_a_chain_of_flow_triggers_runs_a_then_b_then_c(workers) -> None:
    a = flow_deploy(source=CHAIN.format(me="a")).flow
    for me, upstream in (("b", "a"), ("c", "b")):
        flow_deploy(source=CHAIN.format(me=me) + LISTEN.format(upstream=upstream))
    first = execution_create(flow=a)

    def c_done() -> Execution | None:
        found = Execution.objects.filter(namespace="it.chain", flow_id="c").first()
        return found if found is not None and found.state == State.SUCCESS else None

    c = wait_for(c_done, timeout=90)
    b = Execution.objects.get(namespace="it.chain", flow_id="b")
    assert b.trigger["variables"]["executionId"] == first.id
    assert c.trigger["variables"]["executionId"] == b.id
    assert c.task_runs.get(task_id="say").outputs == {"value": "c after b"}
    counts = {f: Execution.objects.filter(flow_id=f).count() for f in ("a", "b", "c")}
    assert counts == {"a": 1, "b": 1, "c": 1}


WEBHOOK = """id: hooked
namespace: it.hooks
inputs:
  - id: who
    type: STRING
tasks:
  - id: greet
    type: io.kestra.plugin.core.debug.Return
    format: "hello {{ inputs.who }}"
outputs:
  - id: greeting
    type: STRING
    value: "{{ outputs.greet.value }}"
triggers:
  - id: hook
    type: io.kestra.plugin.core.trigger.Webhook
    key: it-key
    wait: true
    returnOutputs: true
    inputs:
      who: "{{ trigger.body.name }}"
    signature:
      secret: it-signing-secret
"""


def test_a_webhook_through_a_running_server_waits_for_the_outputs(workers, live_server) -> None:
    import hashlib
    import hmac
    import json
    import time
    import urllib.error
    import urllib.request

    flow_deploy(source=WEBHOOK)
    url = f"{live_server.url}/api/v1/executions/webhook/it.hooks/hooked/it-key"
    body = json.dumps({"name": "Ada"}).encode()
    timestamp, delivery = str(int(time.time())), "it-delivery-1"
    signed_text = f"{timestamp}.{delivery}.".encode() + body
    signature = hmac.new(b"it-signing-secret", signed_text, hashlib.sha256).hexdigest()
    signed = {
        "X-Trellis-Timestamp": timestamp,
        "X-Trellis-Delivery": delivery,
        "X-Hub-Signature-256": f"sha256={signature}",
    }

    def post(data: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        request = urllib.request.Request(url, data=data, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=90) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    json_type = {"Content-Type": "application/json"}
    status, answer = post(body, {**json_type, **signed})
    assert status == 200, answer
    assert json.loads(answer) == {"greeting": "hello Ada"}
    status, _ = post(body, {**json_type, **signed})  # the same delivery again (issue 21)
    assert status == 409
    status, answer = post(body, json_type)  # unsigned: the same 404 as a wrong key
    assert (status, json.loads(answer)["detail"]) == (404, "Not Found: Flow not found")
    status, _ = post(b"x" * (1024 * 1024 + 1), {**json_type, **signed})
    assert status == 413
    assert Execution.objects.filter(flow_id="hooked").count() == 1

"""Flow triggers for real: an upstream flow's SUCCESS starts its listener on the workers."""

from __future__ import annotations

import pytest

from executions.models import Execution
from executions.services import execution_create, execution_wait
from executions.states import State
from flows.services import flow_deploy
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
            beat.wait(timeout=30)
    executions = list(Execution.objects.filter(flow_id="every-two-seconds"))
    dates = [e.trigger["variables"]["date"] for e in executions]
    assert len(dates) == len(set(dates))  # never two executions for one tick
    assert all(int(d[17:19]) % 2 == 0 for d in dates)
    assert TriggerFire.objects.filter(flow_id="every-two-seconds").count() == len(executions)

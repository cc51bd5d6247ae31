"""Execution actions refuse illegal states with a clear message and change nothing."""

from __future__ import annotations

import pytest

from executions.models import Execution, TaskRun
from executions.services import (
    ExecutionError,
    InputsError,
    execution_create,
    execution_force_run,
    execution_kill,
    execution_replay,
    execution_restart,
    execution_resume,
    execution_unqueue,
    task_run_set_state,
)
from flows.services import flow_deploy
from kernel.states import State

pytestmark = pytest.mark.django_db

FLOW = """
id: actions
namespace: t.actions
inputs:
  - id: n
    type: INT
    defaults: 1
tasks:
  - id: a
    type: io.kestra.plugin.core.log.Log
    message: "{{ inputs.n }}"
"""


@pytest.fixture
def flow():
    return flow_deploy(source=FLOW).flow


def test_bad_inputs_create_nothing(flow) -> None:
    with pytest.raises(InputsError) as err:
        execution_create(flow=flow, inputs={"n": "lots", "extra": 1})
    assert set(err.value.errors) == {"n", "extra"}
    assert Execution.objects.count() == 0


def test_created_execution_has_typed_inputs_and_merged_labels(flow) -> None:
    execution = execution_create(flow=flow, inputs={"n": "7"}, labels={"team": "x"})
    assert execution.state == State.CREATED
    assert execution.inputs == {"n": 7}
    assert execution.labels == {"team": "x", "system.correlationId": execution.id}
    assert ("team", "x") in list(execution.label_rows.values_list("key", "value"))


def test_disabled_flow_cannot_be_run_by_hand(flow) -> None:
    from flows.services import flow_set_disabled

    flow_set_disabled(flow=flow, disabled=True)
    flow.refresh_from_db()
    with pytest.raises(ExecutionError, match="disabled"):
        execution_create(flow=flow)


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (execution_resume, "not PAUSED"),
        (execution_restart, "only a FAILED"),
        (execution_replay, "replay a finished one"),
        (execution_unqueue, "not QUEUED"),
    ],
)
def test_actions_refuse_a_running_execution(flow, action, message) -> None:
    execution = execution_create(flow=flow)
    Execution.objects.filter(pk=execution.pk).update(state=State.RUNNING)
    execution.refresh_from_db()
    with pytest.raises(ExecutionError, match=message):
        action(execution)
    assert Execution.objects.get(pk=execution.pk).state == State.RUNNING


def test_kill_moves_to_killing_and_is_idempotent(flow) -> None:
    execution = execution_create(flow=flow)
    assert execution_kill(execution).state == State.KILLING
    assert execution_kill(execution).state == State.KILLING
    history = [h["state"] for h in Execution.objects.get(pk=execution.pk).state_history]
    assert history == ["CREATED", "KILLING"]


def test_force_run_starts_a_queued_execution(flow) -> None:
    execution = execution_create(flow=flow)
    Execution.objects.filter(pk=execution.pk).update(state=State.QUEUED)
    assert execution_force_run(execution).state == State.RUNNING
    assert execution_force_run(execution).state == State.RUNNING  # running: only nudged
    Execution.objects.filter(pk=execution.pk).update(state=State.SUCCESS)
    execution.refresh_from_db()
    with pytest.raises(ExecutionError, match="can be forced to run"):
        execution_force_run(execution)


def test_task_run_state_can_be_changed_on_a_finished_execution(flow) -> None:
    execution = execution_create(flow=flow)
    Execution.objects.filter(pk=execution.pk).update(state=State.FAILED)
    run = TaskRun.objects.create(execution=execution, task_id="a", state=State.FAILED, seq=1)
    with pytest.raises(ExecutionError, match="can be set to"):
        task_run_set_state(execution, run.id, "KILLED")
    with pytest.raises(ExecutionError, match="no task run"):
        task_run_set_state(execution, "nope", "SUCCESS")
    changed = task_run_set_state(execution, run.id, "success")
    assert changed.state == State.RESTARTED
    assert TaskRun.objects.get(pk=run.pk).state == State.SUCCESS

"""Every state write goes through one checked function per kind: an illegal move raises
``IllegalTransition`` and leaves the rows as they were, whichever writer asks."""

from __future__ import annotations

import pytest
from django.db import transaction

from executions.models import Execution, TaskRun, TaskRunAttempt
from executions.runtime import dispatch
from executions.runtime.advance import advance_execution
from executions.runtime.appliers import apply_plan
from executions.runtime.children import end_run
from executions.runtime.states import set_execution_state, set_task_run_state
from executions.services import execution_create, task_run_set_state
from executions.services.common import move_run
from executions.worker.attempt import claim, record
from flows.services import flow_deploy
from kernel.clock import now
from kernel.engine.plan import Plan, SetExecutionState, SetTaskRunState
from kernel.states import IllegalTransition, State

pytestmark = pytest.mark.django_db

FLOW = """
id: chokepoint
namespace: t.states
tasks:
  - id: a
    type: io.kestra.plugin.core.log.Log
    message: hello
"""


@pytest.fixture(autouse=True)
def _quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    """No message leaves this process: the test plays executor and worker."""
    monkeypatch.setattr(dispatch, "send", lambda *args, **kwargs: None)


@pytest.fixture
def execution() -> Execution:
    return execution_create(flow=flow_deploy(source=FLOW).flow)


def _row(model, pk) -> dict:
    return model.objects.filter(pk=pk).values().get()


def _run_in(execution: Execution, state: State) -> TaskRun:
    return TaskRun.objects.create(
        execution=execution, task_id="a", state=state, seq=1,
        state_history=[{"state": str(state), "date": "2026-01-01T00:00:00Z"}],
    )  # fmt: skip


def test_set_execution_state_refuses_and_changes_nothing(execution) -> None:
    before = (execution.state, list(execution.state_history), execution.ended_at)
    with pytest.raises(IllegalTransition, match=f"execution {execution.id}"):
        set_execution_state(execution, State.SUCCESS, now())  # CREATED -> SUCCESS
    assert (execution.state, execution.state_history, execution.ended_at) == before


def test_set_execution_state_reopens_only_through_the_action_named(execution) -> None:
    Execution.objects.filter(pk=execution.pk).update(state=State.SUCCESS)
    execution.refresh_from_db()
    with pytest.raises(IllegalTransition):
        set_execution_state(execution, State.RESTARTED, now())
    with pytest.raises(IllegalTransition, match=r"\(restart\)"):
        set_execution_state(execution, State.RESTARTED, now(), via="restart")
    set_execution_state(execution, State.RESTARTED, now(), via="change-state")
    assert execution.state == State.RESTARTED
    assert execution.ended_at is None


def test_set_task_run_state_refuses_and_changes_nothing(execution) -> None:
    run = _run_in(execution, State.SUCCESS)
    before = (run.state, list(run.state_history), run.ended_at)
    with pytest.raises(IllegalTransition, match="task run a: cannot go from SUCCESS to RUNNING"):
        set_task_run_state(run, State.RUNNING, now())
    assert (run.state, run.state_history, run.ended_at) == before
    assert set_task_run_state(run, State.SUCCESS, now()) is False  # no move, no history


def _apply(execution: Execution, action: object) -> None:
    """Apply a one-action plan as the executor does (row locked, one transaction): refused."""

    def hop() -> None:
        with transaction.atomic():
            locked = Execution.objects.select_for_update().get(pk=execution.pk)
            apply_plan(locked, Plan([action]), now())

    with pytest.raises(IllegalTransition):
        hop()


def test_apply_plan_refuses_an_illegal_task_run_move_and_writes_nothing(execution) -> None:
    run = _run_in(execution, State.SUCCESS)
    before_run, before_execution = _row(TaskRun, run.pk), _row(Execution, execution.pk)
    _apply(execution, SetTaskRunState(run.id, State.RUNNING))
    assert _row(TaskRun, run.pk) == before_run
    assert _row(Execution, execution.pk) == before_execution


def test_apply_plan_refuses_an_illegal_execution_move_and_writes_nothing(execution) -> None:
    before = _row(Execution, execution.pk)
    _apply(execution, SetExecutionState(State.RETRIED))
    assert _row(Execution, execution.pk) == before


def test_move_run_refuses_and_saves_nothing(execution) -> None:
    run = _run_in(execution, State.KILLED)
    before = _row(TaskRun, run.pk)
    with pytest.raises(IllegalTransition):
        move_run(run, State.RUNNING, via="change-state")
    assert _row(TaskRun, run.pk) == before


def test_the_change_state_service_refuses_a_killed_parent_and_writes_nothing(execution) -> None:
    Execution.objects.filter(pk=execution.pk).update(state=State.KILLED)
    parent = _run_in(execution, State.KILLED)
    child = TaskRun.objects.create(
        execution=execution, task_id="a", parent_id=parent.id, state=State.FAILED, seq=2
    )
    with pytest.raises(IllegalTransition, match="cannot go from KILLED to RUNNING"):
        task_run_set_state(execution, child.id, State.SUCCESS)
    assert TaskRun.objects.get(pk=child.pk).state == State.FAILED
    assert Execution.objects.get(pk=execution.pk).state == State.KILLED


def test_end_run_refuses_before_touching_the_attempt(execution) -> None:
    run = _run_in(execution, State.SUCCESS)
    attempt = TaskRunAttempt.objects.create(
        task_run=run, execution_id=execution.id, number=1, state=State.RUNNING, owner="execution:x"
    )
    before = _row(TaskRun, run.pk)
    with pytest.raises(IllegalTransition):
        end_run(run, State.FAILED, {})
    assert _row(TaskRun, run.pk) == before
    assert TaskRunAttempt.objects.get(pk=attempt.pk).state == State.RUNNING


def test_the_workers_claim_and_record_go_through_the_checks(execution) -> None:
    advance_execution(execution.id)
    attempt = TaskRunAttempt.objects.get(execution_id=execution.id)
    claimed = claim(attempt.pk)
    assert claimed is not None
    run = TaskRun.objects.get(pk=claimed.run.pk)
    assert run.state == State.RUNNING
    assert run.state_history[-1]["state"] == "RUNNING"
    before_run, before_attempt = _row(TaskRun, run.pk), _row(TaskRunAttempt, attempt.pk)
    with pytest.raises(IllegalTransition):
        record(claimed, State.RESTARTED, {})  # a worker never ends a run RESTARTED
    assert _row(TaskRun, run.pk) == before_run
    assert _row(TaskRunAttempt, attempt.pk) == before_attempt
    assert record(claimed, State.SUCCESS, {}) == State.SUCCESS
    assert TaskRun.objects.get(pk=run.pk).state == State.SUCCESS

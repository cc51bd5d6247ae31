"""Pausing a running execution by hand (Kestra's pause action): what runs finishes, nothing
new starts until it is resumed; kill still works; anything not RUNNING is refused.

Executions are driven hop by hop in this process (the executor, then the attempts it
queued), so "nothing new starts" is checked exactly: no task run is created while held."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from executions.models import Execution, TaskRun, TaskRunAttempt
from executions.runtime import dispatch
from executions.runtime.advance import advance_execution
from executions.services import (
    ExecutionError,
    execution_create,
    execution_kill,
    execution_pause,
    execution_resume,
)
from executions.worker.attempt import run_attempt
from flows.services import flow_deploy
from kernel.states import State
from tests.db.api_support import problem, writer

pytestmark = pytest.mark.django_db(transaction=True)

FLOW = """
id: held
namespace: t.pause
tasks:
  - id: first
    type: io.kestra.plugin.core.log.Log
    message: one
  - id: second
    type: io.kestra.plugin.core.log.Log
    message: two
"""


@pytest.fixture(autouse=True)
def _no_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process plays both roles; no message reaches workers other tests started."""
    monkeypatch.setattr(dispatch, "send", lambda *args, **kwargs: None)


def run_queued(execution_id: str) -> int:
    ids = list(
        TaskRunAttempt.objects.filter(execution_id=execution_id, state=State.QUEUED).values_list(
            "pk", flat=True
        )
    )
    for attempt_id in ids:
        run_attempt(attempt_id)
    return len(ids)


def started() -> Execution:
    """An execution whose first task is on a worker (its attempt queued, not yet run)."""
    execution = execution_create(flow=flow_deploy(source=FLOW).flow)
    advance_execution(execution.id)
    assert list(TaskRun.objects.filter(execution=execution).values_list("task_id", flat=True)) == [
        "first"
    ]
    return Execution.objects.get(pk=execution.pk)


def task_ids(execution: Execution) -> list[str]:
    return list(
        TaskRun.objects.filter(execution=execution)
        .order_by("seq")
        .values_list("task_id", flat=True)
    )


def test_a_paused_execution_finishes_what_runs_and_starts_nothing_until_resumed() -> None:
    execution = started()

    paused = execution_pause(execution)
    assert paused.state == State.PAUSED
    assert run_queued(execution.id) == 1  # the running task still ends and records its result
    for _ in range(3):  # wake-ups (the worker's, the sweeper's) change nothing
        assert advance_execution(execution.id) == State.PAUSED
    assert task_ids(execution) == ["first"]
    assert TaskRun.objects.get(execution=execution, task_id="first").state == State.SUCCESS

    resumed = execution_resume(paused)
    assert resumed.state == State.RUNNING
    for _ in range(4):
        advance_execution(execution.id)
        run_queued(execution.id)
    done = Execution.objects.get(pk=execution.pk)
    assert done.state == State.SUCCESS
    assert task_ids(done) == ["first", "second"]
    states = [h["state"] for h in done.state_history]
    assert states[-4:] == ["RUNNING", "PAUSED", "RUNNING", "SUCCESS"]


def test_a_paused_execution_can_be_killed() -> None:
    execution = started()
    execution_pause(execution)

    execution_kill(execution)
    run_queued(execution.id)
    advance_execution(execution.id)

    assert Execution.objects.get(pk=execution.pk).state == State.KILLED
    assert task_ids(execution) == ["first"]


@pytest.mark.parametrize("state", [State.CREATED, State.PAUSED, State.SUCCESS, State.KILLING])
def test_only_a_running_execution_can_be_paused(state) -> None:
    execution = started()
    Execution.objects.filter(pk=execution.pk).update(state=state)

    with pytest.raises(ExecutionError, match="only a RUNNING execution can be paused"):
        execution_pause(execution)
    assert Execution.objects.get(pk=execution.pk).state == state
    assert Execution.objects.get(pk=execution.pk).held is False


def test_pause_over_the_api_and_in_bulk(django_user_model) -> None:
    api = APIClient()
    api.force_authenticate(writer(django_user_model, "u"))
    execution = started()

    answer = api.post(f"/api/v1/executions/{execution.id}/pause")
    assert answer.status_code == 200
    assert answer.json()["state"]["current"] == "PAUSED"
    again = problem(api.post(f"/api/v1/executions/{execution.id}/pause"), 409)
    assert "only a RUNNING execution can be paused" in again["detail"]

    other = started()
    bulk = api.post("/api/v1/executions/pause/by-ids", [other.id, execution.id], format="json")
    assert bulk.status_code == 200
    assert Execution.objects.get(pk=other.pk).state == State.PAUSED
    resumed = api.post(f"/api/v1/executions/{execution.id}/resume", {}, format="json")
    assert resumed.json()["state"]["current"] == "RUNNING"


def test_pause_needs_execute_access(django_user_model) -> None:
    from tests.db.api_support import grant

    reader = django_user_model.objects.create_user(username="r")
    grant(reader, "t", "read")
    api = APIClient()
    api.force_authenticate(reader)
    execution = started()

    problem(api.post(f"/api/v1/executions/{execution.id}/pause"), 403)
    assert Execution.objects.get(pk=execution.pk).state == State.RUNNING


def test_pause_from_the_cli_and_the_admin(client, superuser) -> None:
    execution = started()
    out = io.StringIO()
    call_command("execution", "pause", execution.id, stdout=out)
    assert "PAUSED" in out.getvalue()

    other = started()
    client.force_login(superuser)
    page = client.get(reverse("admin:executions_execution_change", args=[other.id]))
    assert 'id="action-pause"' in page.content.decode()
    client.post(reverse("admin:executions_execution_action", args=[other.id, "pause"]))
    assert Execution.objects.get(pk=other.pk).state == State.PAUSED

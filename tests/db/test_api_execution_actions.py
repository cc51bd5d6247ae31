"""Execution actions over HTTP: each refuses an illegal state with a 409 and changes
nothing; bad resume inputs are a 422. No workers: states are set in the database."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from executions.models import Execution, TaskRun
from executions.services import execution_create
from flows.services import flow_deploy
from kernel.states import State
from tests.db.api_support import log_type_available, problem, writer  # noqa: F401 - autouse fixture

pytestmark = pytest.mark.django_db

FLOW = """
id: acted
namespace: t.api
tasks:
  - id: wait
    type: io.kestra.plugin.core.flow.Pause
    onResume:
      - id: ok
        type: BOOLEAN
"""


@pytest.fixture
def api(django_user_model):
    client = APIClient()
    client.force_authenticate(writer(django_user_model, "u", password="p"))
    return client


@pytest.fixture
def execution():
    return execution_create(flow=flow_deploy(source=FLOW).flow)


def in_state(execution: Execution, state: State) -> Execution:
    Execution.objects.filter(pk=execution.pk).update(state=state)
    execution.refresh_from_db()
    return execution


@pytest.mark.parametrize("action", ["restart", "replay", "resume", "unqueue"])
def test_actions_refuse_a_running_execution_with_409(api, execution, action) -> None:
    in_state(execution, State.RUNNING)
    body = problem(api.post(f"/api/v1/executions/{execution.id}/{action}", {}, format="json"), 409)
    assert execution.id in body["detail"]
    assert Execution.objects.get(pk=execution.pk).state == State.RUNNING


def test_resume_validates_on_resume_inputs(api, execution) -> None:
    in_state(execution, State.PAUSED)
    TaskRun.objects.create(execution=execution, task_id="wait", state=State.PAUSED, seq=1)
    url = f"/api/v1/executions/{execution.id}/resume"
    body = problem(api.post(url, {"ok": "perhaps"}, format="json"), 422)
    assert body["errors"][0]["field"] == "ok"
    assert Execution.objects.get(pk=execution.pk).state == State.PAUSED
    resumed = api.post(url, {"ok": "true"}, format="json")
    assert resumed.status_code == 200
    assert resumed.json()["state"]["current"] == "RUNNING"
    assert TaskRun.objects.get(execution=execution).outputs == {"onResume": {"ok": True}}


def test_labels_are_merged_and_system_labels_refused(api, execution) -> None:
    url = f"/api/v1/executions/{execution.id}/labels"
    answer = api.post(url, [{"key": "team", "value": "b"}], format="json")
    assert answer.status_code == 200
    assert {"key": "team", "value": "b"} in answer.json()["labels"]
    problem(api.post(url, [{"key": "system.x", "value": "1"}], format="json"), 409)
    problem(api.post(url, {"key": "team"}, format="json"), 400)


def test_task_run_state_needs_both_fields_and_a_settable_state(api, execution) -> None:
    in_state(execution, State.FAILED)
    run = TaskRun.objects.create(execution=execution, task_id="wait", state=State.FAILED, seq=1)
    url = f"/api/v1/executions/{execution.id}/state"
    problem(api.post(url, {"taskRunId": run.id}, format="json"), 400)
    problem(api.post(url, {"taskRunId": run.id, "state": "KILLED"}, format="json"), 409)
    done = api.post(url, {"taskRunId": run.id, "state": "SUCCESS"}, format="json")
    assert done.json()["state"]["current"] == "RESTARTED"


def test_force_run_and_replay(api, execution) -> None:
    in_state(execution, State.QUEUED)
    assert (
        api.post(f"/api/v1/executions/{execution.id}/force-run").json()["state"]["current"]
        == "RUNNING"
    )
    in_state(execution, State.SUCCESS)
    replay = api.post(f"/api/v1/executions/{execution.id}/replay")
    assert replay.status_code == 200
    assert replay.json()["originalId"] == execution.id
    problem(api.post("/api/v1/executions/nope/restart"), 404)


# --- regressions: these answered 500 before (found while fuzzing the API) ---------------------


def test_unqueue_with_an_unknown_state_is_409_not_500(api, execution) -> None:
    in_state(execution, State.QUEUED)

    body = problem(api.post(f"/api/v1/executions/{execution.id}/unqueue?state=BOGUS"), 409)

    assert "unknown state" in body["detail"]
    assert Execution.objects.get(pk=execution.pk).state == State.QUEUED


@pytest.mark.parametrize("action", ["resume", "state"])
def test_a_json_list_body_where_an_object_is_expected_is_400_not_500(api, execution, action):
    in_state(execution, State.PAUSED)

    body = problem(
        api.post(f"/api/v1/executions/{execution.id}/{action}", ["x"], format="json"), 400
    )

    assert body["errors"] == [{"field": "body", "message": "got a JSON list"}]


def test_a_transition_the_table_refuses_is_409_not_500(api, execution) -> None:
    """Setting a task run's state walks up to its parents; a KILLED parent cannot run again."""
    in_state(execution, State.KILLED)
    parent = TaskRun.objects.create(execution=execution, task_id="wait", state=State.KILLED, seq=1)
    child = TaskRun.objects.create(
        execution=execution, task_id="wait", parent_id=parent.id, state=State.FAILED, seq=2
    )

    body = problem(
        api.post(
            f"/api/v1/executions/{execution.id}/state",
            {"taskRunId": child.id, "state": "SUCCESS"},
            format="json",
        ),
        409,
    )

    assert "cannot go from KILLED to RUNNING" in body["detail"]
    assert TaskRun.objects.get(pk=child.pk).state == State.FAILED


FILE_FLOW = """
id: approve-with-file
namespace: t.api
tasks:
  - id: wait
    type: io.kestra.plugin.core.flow.Pause
    onResume:
      - id: report
        type: FILE
      - id: ok
        type: BOOLEAN
"""


def test_resume_takes_file_inputs_as_multipart(api, settings, tmp_path) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from orchestrator.storage import default_storage

    settings.MEDIA_ROOT = tmp_path / "storage"
    execution = execution_create(flow=flow_deploy(source=FILE_FLOW).flow)
    in_state(execution, State.PAUSED)
    run = TaskRun.objects.create(execution=execution, task_id="wait", state=State.PAUSED, seq=1)
    url = f"/api/v1/executions/{execution.id}/resume"

    refused = api.post(url, {"ok": "true"}, format="multipart")
    problem(refused, 422)
    resumed = api.post(
        url, {"ok": "true", "report": SimpleUploadedFile("r.csv", b"a,b\n")}, format="multipart"
    )

    assert resumed.status_code == 200, resumed.content
    answer = TaskRun.objects.get(pk=run.pk).outputs["onResume"]
    assert answer["ok"] is True
    assert answer["report"].endswith("/inputs/report/r.csv")
    with default_storage().open(answer["report"]) as handle:
        assert handle.read() == b"a,b\n"


REVISED = """
id: revised
namespace: t.api
tasks:
  - id: a
    type: io.kestra.plugin.core.log.Log
    message: a
  - id: c
    type: io.kestra.plugin.core.execution.Fail
"""


def test_restart_on_another_revision_is_a_new_execution(api) -> None:
    first = flow_deploy(source=REVISED).flow
    execution = in_state(execution_create(flow=first), State.FAILED)
    TaskRun.objects.create(execution=execution, task_id="a", state=State.SUCCESS, seq=1)
    TaskRun.objects.create(execution=execution, task_id="c", state=State.FAILED, seq=2)
    flow_deploy(source=REVISED.replace("message: a", "message: replaced"))
    url = f"/api/v1/executions/{execution.id}/restart"

    problem(api.post(f"{url}?revision=9"), 409)
    answer = api.post(f"{url}?revision=2")

    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["id"] != execution.id
    assert body["flowRevision"] == 2
    assert body["parentId"] == execution.id
    assert body["state"]["current"] == "RESTARTED"
    assert [(r["taskId"], r["state"]["current"]) for r in body["taskRunList"]] == [
        ("a", "SUCCESS"),
        ("c", "RESTARTED"),
    ]
    original = Execution.objects.get(pk=execution.pk)
    assert original.state == State.FAILED  # stays as it ended
    assert list(TaskRun.objects.filter(execution=original).values_list("state", flat=True)) == [
        State.SUCCESS,
        State.FAILED,
    ]

"""Execution API: run (JSON, multipart, files, wait), validate, read, delete, kill, search,
by-ids actions, file download and follow. No workers: progress is simulated in the database."""

from __future__ import annotations

import functools
import json
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from executions.api import views as execution_views
from executions.api import views_files
from executions.api.documents import execution_document
from executions.models import Execution, LogEntry, TaskRun, TaskRunAttempt
from executions.runtime.advance import advance_execution
from executions.runtime.states import history_entry
from executions.services import execution_create
from executions.worker.attempt import claim, record
from flows.models import Flow
from flows.services import flow_deploy, flow_set_disabled
from kernel.states import State
from orchestrator.api import sse
from orchestrator.storage import default_storage
from tests.conftest import flow_yaml
from tests.db.api_support import log_type_available, problem, writer  # noqa: F401 - autouse fixture

pytestmark = pytest.mark.django_db

INPUTS = """inputs:
  - id: n
    type: INT
  - id: tags
    type: MULTISELECT
    values: [a, b, c]
    required: false
  - id: doc
    type: FILE
    required: false
labels:
  team: data
"""


@pytest.fixture(autouse=True)
def storage_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "storage"
    return settings.MEDIA_ROOT


@pytest.fixture
def user(django_user_model):
    return writer(django_user_model, "ana", password="pw")


@pytest.fixture
def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def flow() -> Flow:
    return flow_deploy(source=flow_yaml(extra=INPUTS)).flow


def move(execution: Execution, *states: State) -> Execution:
    """Simulate the executor: append states to the history and bump the version."""
    execution.refresh_from_db()
    moment = timezone.now()
    for state in states:
        execution.state = state
        execution.state_history = [*execution.state_history, history_entry(state, moment)]
        if state == State.RUNNING and execution.started_at is None:
            execution.started_at = moment
        execution.ended_at = (
            moment if state in (State.SUCCESS, State.FAILED, State.KILLED) else None
        )
    execution.version += 1
    execution.save()
    return execution


def run(flow: Flow, **kwargs) -> Execution:
    return execution_create(flow=flow, inputs={"n": 1}, **kwargs)


# --- run ---------------------------------------------------------------------------------------


def test_run_with_json_inputs_returns_the_execution(api, flow):
    response = api.post(
        "/api/v1/executions/company.team/hello?labels=env:prod&labels=owner:ana",
        {"n": "7", "tags": ["a", "c"]},
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    execution = Execution.objects.get()
    assert body["id"] == execution.id
    assert body["namespace"] == "company.team"
    assert body["flowId"] == "hello"
    assert body["flowRevision"] == 1
    assert body["state"]["current"] == "CREATED"
    assert body["state"]["histories"][0]["state"] == "CREATED"
    assert body["state"]["endDate"] is None
    assert body["inputs"] == {"n": 7, "tags": ["a", "c"], "doc": None}
    assert {"key": "env", "value": "prod"} in body["labels"]
    assert {"key": "owner", "value": "ana"} in body["labels"]
    assert {"key": "team", "value": "data"} in body["labels"]
    assert body["trigger"] is None
    assert body["parentId"] is None
    assert body["originalId"] == execution.id
    assert body["taskRunList"] == []


def test_run_with_multipart_form_and_file(api, flow):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("report.csv", b"a,b\n1,2\n", content_type="text/csv")
    response = api.post(
        "/api/v1/executions/company.team/hello",
        {"n": "3", "tags": ["a", "b"], "doc": upload, "labels": ["env:dev"]},
        format="multipart",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    uri = body["inputs"]["doc"]
    assert uri.startswith(f"kestra:///company/team/hello/executions/{body['id']}/inputs/doc/")
    assert uri.endswith("/report.csv")
    assert default_storage().open(uri).read() == b"a,b\n1,2\n"
    assert body["inputs"]["tags"] == ["a", "b"]
    assert {"key": "env", "value": "dev"} in body["labels"]


def test_bad_inputs_are_422_per_input_and_create_nothing(api, flow):
    response = api.post(
        "/api/v1/executions/company.team/hello", {"n": "many", "nope": 1}, format="json"
    )

    body = problem(response, 422)
    assert body["type"] == "urn:trellis:problem:invalid-inputs"
    fields = {e["field"]: e["message"] for e in body["errors"]}
    assert set(fields) == {"n", "nope"}
    assert fields["n"].startswith("Invalid input for `n`")
    assert Execution.objects.count() == 0


def test_missing_required_input_is_422(api, flow):
    body = problem(api.post("/api/v1/executions/company.team/hello", format="json"), 422)

    assert [e["field"] for e in body["errors"]] == ["n"]


def test_unknown_flow_is_404(api):
    problem(api.post("/api/v1/executions/company.team/nothing", format="json"), 404)


def test_disabled_flow_is_409(api, flow):
    flow_set_disabled(flow=flow, disabled=True)

    body = problem(api.post("/api/v1/executions/company.team/hello", {"n": 1}, format="json"), 409)

    assert "disabled" in body["detail"]
    assert Execution.objects.count() == 0


def test_run_an_older_revision_and_unknown_revision(api, flow):
    flow_deploy(source=flow_yaml(extra=INPUTS, message="Two"))

    old = api.post("/api/v1/executions/company.team/hello?revision=1", {"n": 1}, format="json")
    missing = api.post("/api/v1/executions/company.team/hello?revision=9", {"n": 1}, format="json")

    assert old.json()["flowRevision"] == 1
    problem(missing, 404)


def test_labels_must_be_key_value(api, flow):
    body = problem(
        api.post("/api/v1/executions/company.team/hello?labels=oops", {"n": 1}, format="json"),
        400,
    )
    assert body["errors"][0]["field"] == "labels"


def test_wait_answers_with_the_ended_execution(api, flow, monkeypatch):
    calls = []

    def fake_wait(execution_id, timeout=60.0, poll=0.1):
        calls.append(timeout)
        execution = Execution.objects.get(pk=execution_id)
        return move(execution, State.RUNNING, State.SUCCESS)

    monkeypatch.setattr(execution_views, "execution_wait", fake_wait)

    response = api.post(
        "/api/v1/executions/company.team/hello?wait=true&timeout=5", {"n": 1}, format="json"
    )

    assert response.json()["state"]["current"] == "SUCCESS"
    assert response.json()["state"]["endDate"] is not None
    assert calls == [5.0]


def test_wait_default_timeout_is_60_seconds(api, flow, monkeypatch):
    calls = []
    monkeypatch.setattr(
        execution_views,
        "execution_wait",
        lambda eid, timeout, poll: calls.append(timeout) or Execution.objects.get(pk=eid),
    )

    api.post("/api/v1/executions/company.team/hello?wait=true", {"n": 1}, format="json")

    assert calls == [60.0]


def test_post_to_a_flow_named_like_an_action_runs_it(api):
    flow_deploy(source=flow_yaml("kill", "company.team"))

    response = api.post("/api/v1/executions/company.team/kill", format="json")

    assert response.status_code == 200, response.content
    assert response.json()["flowId"] == "kill"


# --- validate ----------------------------------------------------------------------------------


def test_validate_returns_typed_inputs_and_stores_nothing(api, flow, storage_root):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = api.post(
        "/api/v1/executions/company.team/hello/validate",
        {"n": "4", "doc": SimpleUploadedFile("x.txt", b"hi")},
        format="multipart",
    )

    assert response.status_code == 200, response.content
    assert response.json()["inputs"] == {"n": 4, "tags": None, "doc": "x.txt"}
    assert Execution.objects.count() == 0
    assert not storage_root.exists() or not any(storage_root.rglob("x.txt"))


def test_validate_reports_bad_inputs(api, flow):
    body = problem(
        api.post(
            "/api/v1/executions/company.team/hello/validate",
            {"n": 1, "tags": ["z"]},
            format="json",
        ),
        422,
    )
    assert [e["field"] for e in body["errors"]] == ["tags"]


# --- read / delete / kill ---------------------------------------------------------------------


def test_get_execution_with_task_runs_and_attempts(api, flow):
    execution = move(run(flow), State.RUNNING)
    moment = timezone.now()
    task_run = TaskRun.objects.create(
        execution=execution,
        task_id="say",
        state=State.SUCCESS,
        state_history=[
            history_entry(State.CREATED, moment),
            history_entry(State.RUNNING, moment),
            history_entry(State.SUCCESS, moment + timedelta(seconds=2)),
        ],
        outputs={"value": 1},
        seq=1,
        attempts=1,
        ended_at=moment + timedelta(seconds=2),
    )
    TaskRunAttempt.objects.create(
        task_run=task_run,
        execution=execution,
        number=1,
        state=State.SUCCESS,
        owner="host:1",
        started_at=moment,
        ended_at=moment + timedelta(seconds=2),
    )

    body = api.get(f"/api/v1/executions/{execution.id}").json()

    assert body["state"]["current"] == "RUNNING"
    assert [h["state"] for h in body["state"]["histories"]] == ["CREATED", "RUNNING"]
    [run_doc] = body["taskRunList"]
    assert run_doc["id"] == task_run.id
    assert run_doc["executionId"] == execution.id
    assert run_doc["taskId"] == "say"
    assert run_doc["parentTaskRunId"] is None
    assert run_doc["state"]["current"] == "SUCCESS"
    assert run_doc["state"]["duration"] == "PT2S"
    assert run_doc["outputs"] == {"value": 1}
    [attempt] = run_doc["attempts"]
    assert attempt["state"]["current"] == "SUCCESS"
    assert attempt["workerId"] == "host:1"
    assert attempt["startDate"] is not None
    assert body["state"]["startDate"] == body["state"]["histories"][0]["date"]
    document = json.loads(json.dumps(execution_document(execution)))
    for doc in (body, document):
        doc["state"].pop("duration")  # a running execution's duration grows
        doc["state"].pop("getDuration")
    assert body == document


def test_get_unknown_execution_is_404(api):
    problem(api.get("/api/v1/executions/0123456789abcdef"), 404)


def test_unauthenticated_is_401(flow):
    execution = run(flow)

    response = APIClient().get(f"/api/v1/executions/{execution.id}")

    problem(response, 401)


def test_delete_only_a_finished_execution(api, flow, django_capture_on_commit_callbacks):
    execution = move(run(flow), State.RUNNING)
    LogEntry.objects.create(execution=execution, timestamp=timezone.now(), message="hi")
    uri = default_storage().put_input("company.team", "hello", execution.id, "doc", "a.txt", b"x")

    problem(api.delete(f"/api/v1/executions/{execution.id}"), 409)
    move(execution, State.SUCCESS)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(f"/api/v1/executions/{execution.id}")

    assert response.status_code == 204
    assert not Execution.objects.filter(pk=execution.id).exists()
    assert LogEntry.objects.count() == 0
    assert not default_storage().exists(uri)


def test_kill_a_running_execution(api, flow):
    execution = move(run(flow), State.RUNNING)

    response = api.delete(f"/api/v1/executions/{execution.id}/kill")

    assert response.status_code == 202
    assert response.json()["state"]["current"] == "KILLING"
    execution.refresh_from_db()
    assert execution.state == State.KILLING


def test_kill_an_ended_execution_is_409(api, flow):
    execution = move(run(flow), State.RUNNING, State.SUCCESS)

    body = problem(api.delete(f"/api/v1/executions/{execution.id}/kill"), 409)

    assert "SUCCESS" in body["detail"]


def test_kill_unknown_is_404(api):
    problem(api.delete("/api/v1/executions/nope/kill"), 404)


# --- search ------------------------------------------------------------------------------------


@pytest.fixture
def catalogue(flow):
    other = flow_deploy(source=flow_yaml("other", "company.teamx")).flow
    deep = flow_deploy(source=flow_yaml("deep", "company.team.sub")).flow
    a = run(flow, labels={"env": "prod"})
    b = move(run(flow), State.RUNNING, State.FAILED)
    c = execution_create(flow=other, trigger={"id": "every", "type": "Schedule"})
    d = move(execution_create(flow=deep), State.RUNNING)
    past = timezone.now() - timedelta(days=3)
    Execution.objects.filter(pk=a.pk).update(created_at=past)
    return {"a": a, "b": b, "c": c, "d": d}


def ids(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {e["id"] for e in response.json()["results"]}


def test_search_filters(api, catalogue):
    a, b, c, d = (catalogue[k] for k in "abcd")
    search = "/api/v1/executions/search"

    assert ids(api.get(search)) == {a.id, b.id, c.id, d.id}
    assert ids(api.get(search, {"namespace": "company.team"})) == {a.id, b.id, d.id}
    assert ids(api.get(search, {"namespace": "company.team", "flowId": "hello"})) == {a.id, b.id}
    assert ids(api.get(f"{search}?state=FAILED&state=RUNNING")) == {b.id, d.id}
    assert ids(api.get(search, {"state": "failed,created"})) == {a.id, b.id, c.id}
    assert ids(api.get(search, {"labels": "env:prod"})) == {a.id}
    yesterday = (timezone.now() - timedelta(days=1)).isoformat()
    assert ids(api.get(search, {"startDate": yesterday})) == {b.id, c.id, d.id}
    assert ids(api.get(search, {"endDate": yesterday})) == {a.id}
    assert ids(api.get(search, {"triggerType": "Schedule"})) == {c.id}


def test_search_pages_and_sorts(api, catalogue):
    first = api.get("/api/v1/executions/search", {"size": 3, "sort": "state.startDate:asc"})
    second = api.get("/api/v1/executions/search", {"size": 3, "page": 2})

    assert first.json()["total"] == 4
    assert first.json()["results"][0]["id"] == catalogue["a"].id
    assert len(second.json()["results"]) == 1
    assert second.json()["results"][0]["id"] == catalogue["a"].id  # newest first by default


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"state": "NOPE"}, "state"),
        ({"startDate": "yesterday"}, "startDate"),
        ({"sort": "x"}, "sort"),
    ],
)
def test_search_rejects_bad_parameters(api, params, field):
    body = problem(api.get("/api/v1/executions/search", params), 400)
    assert body["errors"][0]["field"] == field


# --- by-ids ------------------------------------------------------------------------------------


def test_kill_by_ids_reports_each_id(api, flow):
    running = move(run(flow), State.RUNNING)
    ended = move(run(flow), State.RUNNING, State.SUCCESS)

    response = api.post(
        "/api/v1/executions/kill/by-ids", [running.id, ended.id, "missing"], format="json"
    )

    assert response.status_code == 200
    assert response.json() == {
        "count": 1,
        "results": [
            {"id": running.id, "ok": True, "message": "KILLING"},
            {"id": ended.id, "ok": False, "message": "already SUCCESS"},
            {"id": "missing", "ok": False, "message": "does not exist"},
        ],
    }
    running.refresh_from_db()
    assert running.state == State.KILLING


def test_kill_by_ids_with_delete_method(api, flow):
    running = move(run(flow), State.RUNNING)

    response = api.delete("/api/v1/executions/kill/by-ids", [running.id], format="json")

    assert response.json()["count"] == 1


def test_delete_by_ids_reports_each_id(api, flow):
    running = move(run(flow), State.RUNNING)
    ended = move(run(flow), State.RUNNING, State.FAILED)

    response = api.delete("/api/v1/executions/by-ids", [running.id, ended.id], format="json")

    body = response.json()
    assert body["count"] == 1
    assert [r["ok"] for r in body["results"]] == [False, True]
    assert "RUNNING" in body["results"][0]["message"]
    assert list(Execution.objects.values_list("id", flat=True)) == [running.id]


@pytest.mark.parametrize("payload", [{"id": "x"}, [], [1, 2]])
def test_by_ids_needs_a_list_of_ids(api, payload):
    problem(api.post("/api/v1/executions/kill/by-ids", payload, format="json"), 400)


# --- files -------------------------------------------------------------------------------------


def test_download_an_execution_file(api, flow):
    execution = run(flow)
    uri = default_storage().put_input(
        "company.team", "hello", execution.id, "doc", "report.csv", b"content"
    )

    response = api.get(f"/api/v1/executions/{execution.id}/file", {"path": uri})

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"content"
    assert response["Content-Disposition"] == 'attachment; filename="report.csv"'
    assert response["Content-Type"] == "text/csv"


def test_another_executions_file_is_404(api, flow):
    mine, theirs = run(flow), run(flow)
    storage = default_storage()
    uri = storage.put_input("company.team", "hello", theirs.id, "doc", "a.txt", b"secret")
    missing = storage.execution_prefix("company.team", "hello", mine.id) + "inputs/doc/none.txt"
    sneaky = storage.execution_prefix("company.team", "hello", mine.id) + "../" + theirs.id

    for path in (uri, missing, sneaky, "file:///etc/passwd"):
        problem(api.get(f"/api/v1/executions/{mine.id}/file", {"path": path}), 404)
    problem(api.get(f"/api/v1/executions/{mine.id}/file"), 400)


# --- follow ------------------------------------------------------------------------------------


def sse_events(chunks) -> list[tuple[str, object]]:
    events = []
    for frame in b"".join(chunks).decode().split("\n\n"):
        lines = [ln for ln in frame.splitlines() if ln and not ln.startswith(":")]
        if not lines:
            continue
        name = next(ln[7:] for ln in lines if ln.startswith("event: "))
        data = "\n".join(ln[6:] for ln in lines if ln.startswith("data: "))
        events.append((name, json.loads(data)))
    return events


def test_follow_sends_each_change_until_the_end(api, flow, monkeypatch):
    monkeypatch.setattr(views_files, "POLL_SECONDS", 0.01)
    execution = run(flow)

    response = api.get(f"/api/v1/executions/{execution.id}/follow")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    stream = iter(response.streaming_content)
    first = sse_events([next(stream)])
    move(execution, State.RUNNING)
    second = sse_events([next(stream)])
    move(execution, State.SUCCESS)
    rest = sse_events(list(stream))

    assert [(n, d["state"]["current"]) for n, d in first] == [("execution", "CREATED")]
    assert [(n, d["state"]["current"]) for n, d in second] == [("execution", "RUNNING")]
    assert [n for n, _ in rest] == ["execution", "end"]
    assert rest[0][1]["state"]["current"] == "SUCCESS"
    assert rest[1][1] == {"reason": "done"}


def task_runs(events) -> list[tuple[str, list[str]]]:
    """Each execution event's task-run states, with their attempts' states."""
    return [
        (r["state"]["current"], [a["state"]["current"] for a in r["attempts"]])
        for _, doc in events
        for r in doc["taskRunList"]
    ]


def test_follow_sends_task_run_changes_the_execution_row_does_not_show(
    api, flow, monkeypatch, settings
):
    # A worker's claim, and its record when the execution row is busy (the fast path off
    # here stands for that), change the task run and its attempt, not the execution's
    # version; each must still reach a follower. A stream that missed them would end by
    # timeout after two seconds instead of hanging.
    settings.TRELLIS_WORKER_ADVANCES = False
    monkeypatch.setattr(views_files, "POLL_SECONDS", 0.01)
    monkeypatch.setattr(views_files, "follow", functools.partial(sse.follow, max_seconds=2))
    execution = run(flow)
    advance_execution(execution.id)  # the executor starts it: task run CREATED, attempt QUEUED
    version = Execution.objects.get(pk=execution.pk).version
    attempt = TaskRunAttempt.objects.get(execution=execution)

    stream = iter(api.get(f"/api/v1/executions/{execution.id}/follow").streaming_content)
    first = sse_events([next(stream)])
    claimed = claim(attempt.pk)
    claimed_event = sse_events([next(stream, b"")])
    record(claimed, State.SUCCESS, {})
    recorded_event = sse_events([next(stream, b"")])

    assert Execution.objects.get(pk=execution.pk).version == version
    assert task_runs(first) == [("CREATED", ["QUEUED"])]
    assert [n for n, _ in claimed_event] == ["execution"]
    assert task_runs(claimed_event) == [("RUNNING", ["RUNNING"])]
    assert [n for n, _ in recorded_event] == ["execution"]
    assert task_runs(recorded_event) == [("SUCCESS", ["SUCCESS"])]


def test_follow_an_ended_execution_sends_it_once(api, flow):
    execution = move(run(flow), State.RUNNING, State.FAILED)

    response = api.get(f"/api/v1/executions/{execution.id}/follow", HTTP_ACCEPT="text/event-stream")

    events = sse_events(response.streaming_content)
    assert [n for n, _ in events] == ["execution", "end"]
    assert events[0][1]["id"] == execution.id


def test_follow_unknown_is_404(api):
    assert api.get("/api/v1/executions/nope/follow").status_code == 404

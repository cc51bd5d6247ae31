"""change-status and the ``by-ids`` bulk actions: each id gets its own result, a refused or
missing one never stops the others, a malformed request acts on nothing. No workers: states
are set in the database."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from executions.models import Execution, TaskRun
from executions.services import execution_create
from flows.services import flow_deploy
from kernel.states import State
from tests.conftest import flow_yaml
from tests.db.api_support import log_type_available, problem, writer  # noqa: F401 - autouse fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(django_user_model):
    client = APIClient()
    client.force_authenticate(writer(django_user_model))
    return client


@pytest.fixture
def flow():
    return flow_deploy(source=flow_yaml("bulk", "company.team")).flow


def made(flow, state: State, run_state: State | None = None) -> Execution:
    execution = execution_create(flow=flow)
    Execution.objects.filter(pk=execution.pk).update(state=state)
    if run_state is not None:
        TaskRun.objects.create(execution=execution, task_id="say", state=run_state, seq=1)
    execution.refresh_from_db()
    return execution


def state_of(execution: Execution) -> str:
    return Execution.objects.get(pk=execution.pk).state


def outcome(body: dict) -> list[tuple[str, bool]]:
    return [(r["id"], r["ok"]) for r in body["results"]]


# --- change-status ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "target"),
    [(State.SUCCESS, "FAILED"), (State.FAILED, "success"), (State.WARNING, "SUCCESS")],
)
def test_change_status_gives_an_ended_execution_another_final_state(
    api, flow, current, target
) -> None:
    execution = made(flow, current)

    response = api.post(f"/api/v1/executions/{execution.id}/change-status?status={target}")

    assert response.status_code == 200, response.content
    assert response.json()["state"]["current"] == target.upper()
    history = Execution.objects.get(pk=execution.pk).state_history
    assert history[-1]["state"] == target.upper()


@pytest.mark.parametrize("current", [State.RUNNING, State.KILLED, State.CANCELLED, State.PAUSED])
def test_change_status_refuses_a_live_killed_or_cancelled_execution(api, flow, current) -> None:
    execution = made(flow, current)

    body = problem(api.post(f"/api/v1/executions/{execution.id}/change-status?status=SUCCESS"), 409)

    assert str(current) in body["detail"]
    assert state_of(execution) == current


@pytest.mark.parametrize("status", ["", "RUNNING", "KILLED", "nonsense"])
def test_change_status_takes_only_success_warning_or_failed(api, flow, status) -> None:
    execution = made(flow, State.SUCCESS)

    body = problem(
        api.post(f"/api/v1/executions/{execution.id}/change-status?status={status}"), 400
    )

    assert body["errors"][0]["field"] == "status"
    assert state_of(execution) == State.SUCCESS


# --- by-ids ---------------------------------------------------------------------------------


def test_change_status_by_ids_reports_each_id(api, flow) -> None:
    done, running = made(flow, State.SUCCESS), made(flow, State.RUNNING)

    response = api.post(
        "/api/v1/executions/change-status/by-ids?newStatus=WARNING",
        [done.id, running.id, "missing"],
        format="json",
    )

    body = response.json()
    assert outcome(body) == [(done.id, True), (running.id, False), ("missing", False)]
    assert body["count"] == 1
    assert body["results"][2]["message"] == "does not exist"
    assert (state_of(done), state_of(running)) == (State.WARNING, State.RUNNING)


def test_restart_by_ids(api, flow) -> None:
    failed, ok = made(flow, State.FAILED, State.FAILED), made(flow, State.SUCCESS)

    body = api.post("/api/v1/executions/restart/by-ids", [failed.id, ok.id], format="json").json()

    assert outcome(body) == [(failed.id, True), (ok.id, False)]
    assert state_of(failed) == State.RESTARTED
    assert "only a FAILED" in body["results"][1]["message"]


def test_replay_by_ids_names_the_new_executions(api, flow) -> None:
    ended, running = made(flow, State.SUCCESS), made(flow, State.RUNNING)

    body = api.post(
        "/api/v1/executions/replay/by-ids", [ended.id, running.id], format="json"
    ).json()

    assert outcome(body) == [(ended.id, True), (running.id, False)]
    replay_id = body["results"][0]["message"].removeprefix("replayed as ")
    assert Execution.objects.get(pk=replay_id).original_id == ended.id


def test_resume_force_run_and_unqueue_by_ids(api, flow) -> None:
    paused, queued, queued2 = (
        made(flow, State.PAUSED),
        made(flow, State.QUEUED),
        made(flow, State.QUEUED),
    )

    resumed = api.post("/api/v1/executions/resume/by-ids", [paused.id, queued.id], format="json")
    forced = api.post("/api/v1/executions/force-run/by-ids", [queued.id], format="json")
    unqueued = api.post(
        "/api/v1/executions/unqueue/by-ids?state=KILLED", [queued2.id, paused.id], format="json"
    )

    assert outcome(resumed.json()) == [(paused.id, True), (queued.id, False)]
    assert outcome(forced.json()) == [(queued.id, True)]
    assert outcome(unqueued.json()) == [(queued2.id, True), (paused.id, False)]
    assert [state_of(e) for e in (paused, queued, queued2)] == [
        State.RUNNING, State.RUNNING, State.KILLED,
    ]  # fmt: skip


def test_labels_by_ids_sets_labels_and_refuses_system_ones(api, flow) -> None:
    one, two = made(flow, State.SUCCESS), made(flow, State.FAILED)
    url = "/api/v1/executions/labels/by-ids"

    body = api.post(
        url,
        {"executionsId": [one.id, two.id], "executionLabels": [{"key": "team", "value": "b"}]},
        format="json",
    ).json()
    refused = api.post(
        url, {"executionsId": [one.id], "executionLabels": [{"key": "system.x", "value": "1"}]},
        format="json",
    ).json()  # fmt: skip

    assert body["count"] == 2
    assert Execution.objects.get(pk=two.pk).labels["team"] == "b"
    assert outcome(refused) == [(one.id, False)]
    assert "system labels" in refused["results"][0]["message"]


@pytest.mark.parametrize(
    ("url", "payload", "field"),
    [
        ("/api/v1/executions/restart/by-ids", {"ids": []}, "body"),
        ("/api/v1/executions/restart/by-ids", [], "body"),
        ("/api/v1/executions/restart/by-ids", [1, 2], "body"),
        ("/api/v1/executions/change-status/by-ids", ["x"], "newStatus"),
        ("/api/v1/executions/unqueue/by-ids?state=SUCCESS", ["x"], "state"),
        ("/api/v1/executions/labels/by-ids", ["x"], "body"),
        ("/api/v1/executions/labels/by-ids", {"executionsId": ["x"]}, "executionLabels"),
    ],
)
def test_malformed_bulk_requests_are_400_and_act_on_nothing(api, flow, url, payload, field) -> None:
    execution = made(flow, State.FAILED, State.FAILED)

    body = problem(api.post(url, payload, format="json"), 400)

    assert field in {e["field"] for e in body["errors"]}
    assert state_of(execution) == State.FAILED


def test_a_body_over_the_json_limit_is_413_before_anything_happens(api, flow, settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    execution = made(flow, State.FAILED, State.FAILED)

    body = problem(
        api.post("/api/v1/executions/restart/by-ids", [execution.id] * 10, format="json"), 413
    )

    assert "limit is 100" in body["detail"]
    assert state_of(execution) == State.FAILED

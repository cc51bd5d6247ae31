"""Log API: one execution's lines (filters, download, follow) and the log search."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from executions.api import views_logs
from executions.models import Execution, LogEntry
from executions.services import execution_create
from flows.services import flow_deploy
from kernel.states import State
from tests.conftest import flow_yaml
from tests.db.api_support import log_type_available, problem, writer  # noqa: F401 - autouse fixture
from tests.db.test_api_executions import move, sse_events

pytestmark = pytest.mark.django_db
T0 = timezone.now().replace(microsecond=0) - timedelta(hours=1)


@pytest.fixture
def api(django_user_model):
    client = APIClient()
    client.force_authenticate(writer(django_user_model, "ana"))
    return client


@pytest.fixture
def execution() -> Execution:
    return execution_create(flow=flow_deploy(source=flow_yaml()).flow)


def log(execution, message, *, level="INFO", task_id="say", run="r1", attempt=1, at=0):
    return LogEntry.objects.create(
        execution=execution,
        task_run_id=run,
        task_id=task_id,
        attempt=attempt,
        level=level,
        message=message,
        timestamp=T0 + timedelta(seconds=at),
    )


@pytest.fixture
def lines(execution):
    return [
        log(execution, "trace", level="TRACE", at=0),
        log(execution, "hello", at=1),
        log(execution, "careful", level="WARN", task_id="other", run="r2", at=2),
        log(execution, "retry boom", level="ERROR", attempt=2, at=3),
        log(execution, "executor note", task_id="", run=None, attempt=None, at=4),
    ]


def stamp(at: int) -> str:
    return (T0 + timedelta(seconds=at)).isoformat().replace("+00:00", "Z")


def messages(response) -> list[str]:
    assert response.status_code == 200, response.content
    body = response.json()
    items = body["results"] if isinstance(body, dict) else body
    return [item["message"] for item in items]


def test_list_an_executions_logs_oldest_first(api, execution, lines):
    response = api.get(f"/api/v1/logs/{execution.id}")

    assert messages(response) == ["trace", "hello", "careful", "retry boom", "executor note"]
    first = response.json()[1]
    assert first == {
        "namespace": "company.team",
        "flowId": "hello",
        "executionId": execution.id,
        "taskId": "say",
        "taskRunId": "r1",
        "attemptNumber": 1,
        "timestamp": stamp(1),
        "level": "INFO",
        "message": "hello",
    }


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"minLevel": "warn"}, ["careful", "retry boom"]),
        ({"minLevel": "INFO"}, ["hello", "careful", "retry boom", "executor note"]),
        ({"taskId": "other"}, ["careful"]),
        ({"taskRunId": "r1"}, ["trace", "hello", "retry boom"]),
        ({"attempt": 2}, ["retry boom"]),
        ({"taskRunId": "r1", "minLevel": "DEBUG"}, ["hello", "retry boom"]),
    ],
)
def test_filter_an_executions_logs(api, execution, lines, params, expected):
    assert messages(api.get(f"/api/v1/logs/{execution.id}", params)) == expected


def test_bad_level_is_400(api, execution):
    body = problem(api.get(f"/api/v1/logs/{execution.id}", {"minLevel": "LOUD"}), 400)
    assert body["errors"][0]["field"] == "minLevel"


def test_logs_of_unknown_execution_are_404(api):
    problem(api.get("/api/v1/logs/nope"), 404)
    problem(api.get("/api/v1/logs/nope/download"), 404)


def test_download_is_text_one_line_per_log(api, execution, lines):
    response = api.get(f"/api/v1/logs/{execution.id}/download", {"minLevel": "INFO"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="{execution.id}.log"'
    text = b"".join(response.streaming_content).decode()
    assert text.splitlines() == [
        f"{stamp(1)} INFO [say] hello",
        f"{stamp(2)} WARN [other] careful",
        f"{stamp(3)} ERROR [say] retry boom",
        f"{stamp(4)} INFO executor note",
    ]


def test_follow_sends_lines_then_new_ones_until_the_end(api, execution, lines, monkeypatch):
    monkeypatch.setattr(views_logs, "POLL_SECONDS", 0.01)
    move(execution, State.RUNNING)

    response = api.get(f"/api/v1/logs/{execution.id}/follow", {"minLevel": "INFO"})
    assert response["Content-Type"] == "text/event-stream"
    stream = iter(response.streaming_content)
    existing = sse_events([next(stream) for _ in range(4)])
    log(execution, "late line", at=10)
    new = sse_events([next(stream)])
    log(execution, "last words", at=11)
    move(execution, State.SUCCESS)
    rest = sse_events(list(stream))

    assert [d["message"] for _, d in existing] == [
        "hello",
        "careful",
        "retry boom",
        "executor note",
    ]
    assert new == [("log", new[0][1])]
    assert new[0][1]["message"] == "late line"
    assert [(n, d.get("message")) for n, d in rest] == [("log", "last words"), ("end", None)]


def test_follow_sends_a_line_committed_late_with_a_smaller_id(execution):
    poll = views_logs.logs_poll(execution.id, LogEntry.objects.filter(execution=execution))
    first_line = log(execution, "a")
    LogEntry.objects.create(id=first_line.id + 10, execution=execution, timestamp=T0, message="c")
    first = poll(None)
    # Another writer's transaction commits a smaller id after a larger one was sent.
    LogEntry.objects.create(id=first_line.id + 5, execution=execution, timestamp=T0, message="b")
    second = poll(first.cursor)
    third = poll(second.cursor)

    assert [d["message"] for _, d in first.events] == ["a", "c"]
    assert [d["message"] for _, d in second.events] == ["b"]
    assert third.events == []
    assert not third.done  # the execution is still CREATED


def test_follow_an_ended_execution_ends(api, execution, lines):
    move(execution, State.RUNNING, State.FAILED)

    events = sse_events(api.get(f"/api/v1/logs/{execution.id}/follow").streaming_content)

    assert [n for n, _ in events] == ["log"] * 5 + ["end"]


# --- search ------------------------------------------------------------------------------------


@pytest.fixture
def catalogue(execution, lines):
    other = execution_create(flow=flow_deploy(source=flow_yaml("b", "company.teamx")).flow)
    deep = execution_create(flow=flow_deploy(source=flow_yaml("c", "company.team.sub")).flow)
    log(other, "other flow", level="ERROR", at=20)
    log(deep, "deep flow", at=30)


def test_search_filters(api, catalogue):
    search = "/api/v1/logs/search"

    assert messages(api.get(search, {"namespace": "company.team", "minLevel": "WARN"})) == [
        "retry boom",
        "careful",
    ]
    assert messages(api.get(search, {"flowId": "b"})) == ["other flow"]
    assert messages(api.get(search, {"q": "FLOW"})) == ["deep flow", "other flow"]
    assert messages(api.get(search, {"namespace": "company.team.sub"})) == ["deep flow"]
    after = (T0 + timedelta(seconds=19)).isoformat()
    assert messages(api.get(search, {"startDate": after})) == ["deep flow", "other flow"]


def test_search_pages_and_sorts(api, catalogue):
    page = api.get("/api/v1/logs/search", {"size": 2, "page": 2, "sort": "timestamp:asc"})

    assert page.json()["total"] == 7
    assert messages(page) == ["careful", "retry boom"]

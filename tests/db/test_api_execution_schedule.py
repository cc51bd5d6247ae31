"""``POST /api/v1/executions/{namespace}/{flowId}?scheduleDate=...``: a run that starts later.

No workers here: the executor's use cases (``advance_execution``, ``sweep``) are called as
functions and the wake-ups they would send are recorded instead.
"""

from __future__ import annotations

from datetime import UTC, timedelta
from urllib.parse import quote

import pytest
from django.utils import timezone

from executions.models import Execution, TaskRun
from executions.runtime import advance as runtime
from executions.runtime.advance import advance_execution, sweep
from flows.services import flow_deploy
from kernel.states import State
from tests.conftest import flow_yaml
from tests.db.api_support import authed_client, log_type_available, problem, writer  # noqa: F401 - autouse fixture

pytestmark = pytest.mark.django_db

URL = "/api/v1/executions/company.team/hello"


@pytest.fixture
def api(django_user_model):
    return authed_client(writer(django_user_model))


@pytest.fixture(autouse=True)
def flow():
    return flow_deploy(source=flow_yaml()).flow


@pytest.fixture
def woken(monkeypatch) -> list[str]:
    """Executions the sweeper would wake (instead of sending the wake-ups)."""
    calls: list[str] = []
    monkeypatch.setattr(runtime, "wake_executor", calls.append)
    return calls


def iso(moment) -> str:
    return quote(moment.astimezone(UTC).isoformat())


def advances(callbacks) -> int:
    """How many executor wake-ups a block queued for after commit."""
    return sum("wake_executor" in getattr(c, "__qualname__", "") for c in callbacks)


def run_at(api, moment, django_capture_on_commit_callbacks) -> tuple[Execution, int]:
    with django_capture_on_commit_callbacks() as callbacks:
        response = api.post(f"{URL}?scheduleDate={iso(moment)}", format="json")
    assert response.status_code == 200, response.content
    execution = Execution.objects.get(pk=response.json()["id"])
    assert response.json()["state"]["current"] == "CREATED"
    return execution, advances(callbacks)


def test_a_future_date_creates_an_execution_that_waits_for_it(
    api, woken, monkeypatch, settings, django_capture_on_commit_callbacks
):
    settings.TRELLIS_QUIET_SECONDS = 30
    moment = timezone.now()
    date = moment + timedelta(hours=1)

    execution, wake_ups = run_at(api, date, django_capture_on_commit_callbacks)

    assert wake_ups == 0  # nothing asks the executor before the date
    assert execution.due_at == date
    # The sweeper leaves it alone, even once it has been quiet for long...
    Execution.objects.filter(pk=execution.pk).update(updated_at=moment - timedelta(hours=1))
    sweep()
    assert woken == []
    # ...and a stray wake-up (a duplicate, another path) does not start it early.
    assert advance_execution(execution.id) == State.CREATED
    assert not TaskRun.objects.filter(execution=execution).exists()

    monkeypatch.setattr(runtime, "now", lambda: date + timedelta(seconds=1))
    sweep()
    assert woken == [execution.id]  # at its date the sweeper wakes it
    assert advance_execution(execution.id) == State.RUNNING
    assert list(TaskRun.objects.filter(execution=execution).values_list("task_id", flat=True)) == [
        "say"
    ]
    assert Execution.objects.get(pk=execution.pk).due_at is None


@pytest.mark.parametrize("offset", [timedelta(hours=-1), timedelta(0)])
def test_a_past_or_present_date_runs_at_once(
    api, offset, django_capture_on_commit_callbacks
) -> None:
    execution, wake_ups = run_at(api, timezone.now() + offset, django_capture_on_commit_callbacks)

    assert wake_ups == 1
    assert advance_execution(execution.id) == State.RUNNING


@pytest.mark.parametrize("raw", ["tomorrow", "2025-13-45T10:00:00Z", "2025-01-01T25:00"])
def test_a_malformed_date_is_a_400_and_creates_nothing(
    api, raw, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        response = api.post(f"{URL}?scheduleDate={quote(raw)}", format="json")

    body = problem(response, 400)
    assert body["errors"] == [
        {"field": "scheduleDate", "message": f"expected e.g. 2024-07-12T05:07:28Z, got {raw!r}"}
    ]
    assert not Execution.objects.exists()
    assert callbacks == []

"""The trigger API: search, a flow's triggers, one trigger, enable/disable one or in bulk,
and backfills (create, pause, unpause, delete, progress), through DRF's test client."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django_celery_beat.models import PeriodicTask
from rest_framework.test import APIClient

from flows.services import flow_deploy
from tests.db.api_support import authed_client, problem, writer
from triggers.models import TriggerState
from triggers.services import backfill_step

pytestmark = pytest.mark.django_db

LOG = "tasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"
HOURLY = """id: hourly
namespace: t.api
{log}triggers:
  - id: every-hour
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 * * * *"
  - id: hook
    type: io.kestra.plugin.core.trigger.Webhook
    key: k
"""
NIGHTLY = """id: nightly
namespace: t.api.sub
{log}triggers:
  - id: at-two
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 2 * * *"
"""
ELSEWHERE = """id: listener
namespace: t.other
{log}triggers:
  - id: after-hourly
    type: io.kestra.plugin.core.trigger.Flow
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionFlow
        namespace: t.api
        flowId: hourly
"""
HOURLY_KEY = {"namespace": "t.api", "flowId": "hourly", "triggerId": "every-hour"}


@pytest.fixture
def api(django_user_model) -> APIClient:
    return authed_client(writer(django_user_model))


@pytest.fixture(autouse=True)
def flows(settings) -> None:
    settings.TRELLIS_BACKFILL_BATCH = 2
    for source in (HOURLY, NIGHTLY, ELSEWHERE):
        flow_deploy(source=source.format(log=LOG))


def ids(response) -> list[str]:  # noqa: ANN001
    assert response.status_code == 200, response.content
    return [r["triggerContext"]["triggerId"] for r in response.json()["results"]]


def state(trigger_id: str = "every-hour") -> TriggerState:
    return TriggerState.objects.get(trigger_id=trigger_id)


def test_search_filters_by_namespace_prefix_flow_and_text(api) -> None:
    assert ids(api.get("/api/v1/triggers/search")) == [
        "every-hour", "hook", "at-two", "after-hourly",
    ]  # fmt: skip
    assert ids(api.get("/api/v1/triggers/search?namespace=t.api")) == [
        "every-hour", "hook", "at-two",
    ]  # fmt: skip
    assert ids(api.get("/api/v1/triggers/search?namespace=t.api&flowId=nightly")) == ["at-two"]
    assert ids(api.get("/api/v1/triggers/search?q=after")) == ["after-hourly"]
    assert ids(api.get("/api/v1/triggers/search?type=Webhook")) == ["hook"]


def test_search_shows_next_and_last_fire_disabled_and_the_declaration(api) -> None:
    TriggerState.objects.filter(trigger_id="every-hour").update(
        last_fire_date=datetime(2025, 1, 1, 9, tzinfo=UTC), last_execution_id="e1"
    )
    body = api.get("/api/v1/triggers/search?flowId=hourly&sort=triggerId:asc").json()
    assert body["total"] == 2
    first = body["results"][0]
    assert first["abstractTrigger"] == {
        "id": "every-hour", "type": "io.kestra.plugin.core.trigger.Schedule",
        "disabled": False, "cron": "0 * * * *",
    }  # fmt: skip
    context = first["triggerContext"]
    assert context["type"] == "io.kestra.plugin.core.trigger.Schedule"
    assert (context["date"], context["executionId"]) == ("2025-01-01T09:00:00Z", "e1")
    assert context["nextExecutionDate"] == state().next_date.isoformat().replace("+00:00", "Z")
    assert (context["disabled"], context["armed"], context["backfill"]) == (False, True, None)
    assert body["results"][1]["triggerContext"]["nextExecutionDate"] is None  # the webhook


def test_search_pages_and_sorts(api) -> None:
    page = api.get("/api/v1/triggers/search?size=2&page=2&sort=triggerId:desc").json()
    assert page["total"] == 4
    assert [r["triggerContext"]["triggerId"] for r in page["results"]] == ["at-two", "after-hourly"]
    soonest = ids(api.get("/api/v1/triggers/search?namespace=t.api&type=Schedule"
                          "&sort=nextExecutionDate:asc"))  # fmt: skip
    assert soonest == ["every-hour", "at-two"]
    bad = problem(api.get("/api/v1/triggers/search?sort=cron:asc"), 400)
    assert bad["errors"][0]["field"] == "sort"
    problem(api.get("/api/v1/triggers/search?size=0"), 400)


def test_authentication_is_required() -> None:
    problem(APIClient().get("/api/v1/triggers/search"), 401)
    problem(APIClient().put("/api/v1/triggers", HOURLY_KEY, format="json"), 401)


def test_a_flows_triggers_and_one_trigger(api) -> None:
    assert ids(api.get("/api/v1/triggers/t.api/hourly")) == ["every-hour", "hook"]
    problem(api.get("/api/v1/triggers/t.api/nope"), 404)
    one = api.get("/api/v1/triggers/t.api/hourly/hook")
    assert one.status_code == 200
    assert one.json()["abstractTrigger"]["key"] == "k"
    problem(api.get("/api/v1/triggers/t.api/hourly/nope"), 404)


def test_update_disables_and_enables_one_trigger(api) -> None:
    name = "trellis:t.api:hourly:every-hour"
    response = api.put("/api/v1/triggers", {**HOURLY_KEY, "disabled": True}, format="json")
    assert response.status_code == 200, response.content
    context = response.json()["triggerContext"]
    assert (context["disabled"], context["nextExecutionDate"]) == (True, None)
    assert context["disabledReason"] == "disabled by ana"
    assert not PeriodicTask.objects.filter(name=name).exists()
    back = api.put("/api/v1/triggers", {**HOURLY_KEY, "disabled": False}, format="json")
    assert back.json()["triggerContext"]["disabled"] is False
    assert PeriodicTask.objects.filter(name=name).exists()


def test_update_refuses_bad_bodies_and_unknown_triggers(api) -> None:
    missing = problem(api.put("/api/v1/triggers", {"namespace": "t.api"}, format="json"), 400)
    assert {e["field"] for e in missing["errors"]} == {"flowId", "triggerId"}
    unknown = {**HOURLY_KEY, "triggerId": "nope", "disabled": True}
    assert (
        "no trigger 'nope'"
        in problem(api.put("/api/v1/triggers", unknown, format="json"), 404)["detail"]
    )
    wrong = {**HOURLY_KEY, "disabled": "maybe"}
    assert (
        problem(api.put("/api/v1/triggers", wrong, format="json"), 400)["errors"][0]["field"]
        == "disabled"
    )


def test_set_disabled_by_triggers_reports_each_one(api) -> None:
    body = {
        "disabled": True,
        "triggers": [HOURLY_KEY, {"namespace": "t.api.sub", "flowId": "nightly",
                                  "triggerId": "at-two"}, {**HOURLY_KEY, "triggerId": "nope"}],
    }  # fmt: skip
    response = api.post("/api/v1/triggers/set-disabled/by-triggers", body, format="json")
    assert response.status_code == 200, response.content
    report = response.json()
    assert report["count"] == 2
    assert [r["ok"] for r in report["results"]] == [True, True, False]
    assert "no trigger 'nope'" in report["results"][2]["message"]
    assert state().disabled
    assert state("at-two").disabled
    problem(
        api.post("/api/v1/triggers/set-disabled/by-triggers", {"triggers": []}, format="json"), 400
    )


def test_set_disabled_by_query(api) -> None:
    response = api.post("/api/v1/triggers/set-disabled/by-query?namespace=t.api&type=Schedule")
    assert response.json()["count"] == 2
    assert state().disabled
    assert state("at-two").disabled
    assert not state("hook").disabled
    again = api.post("/api/v1/triggers/set-disabled/by-query?namespace=t.api.sub&disabled=false")
    assert again.json()["count"] == 1
    assert not state("at-two").disabled
    problem(api.post("/api/v1/triggers/set-disabled/by-query?disabled=maybe"), 400)


BACKFILL = {"start": "2025-01-01T00:00:00Z", "end": "2025-01-01T05:00:00Z",
            "inputs": {}, "labels": [{"key": "run", "value": "bf"}]}  # fmt: skip


def backfill_of(response) -> dict:  # noqa: ANN001
    assert response.status_code == 200, response.content
    return response.json()["triggerContext"]["backfill"]


def test_backfill_create_progress_pause_unpause_delete(api) -> None:
    created = backfill_of(api.put("/api/v1/triggers", {**HOURLY_KEY, "backfill": BACKFILL},
                                  format="json"))  # fmt: skip
    assert (created["status"], created["total"], created["handled"]) == ("RUNNING", 6, 0)
    assert created["labels"] == {"run": "bf"}
    backfill_step(namespace="t.api", flow_id="hourly", trigger_id="every-hour")
    seen = backfill_of(api.get("/api/v1/triggers/t.api/hourly/every-hour"))
    assert (seen["handled"], seen["created"], seen["percent"]) == (2, 2, 33.3)
    assert seen["currentDate"] == "2025-01-01T01:00:00+00:00"
    same = {**HOURLY_KEY, "backfill": BACKFILL, "disabled": False}  # the state sent back
    assert backfill_of(api.put("/api/v1/triggers", same, format="json"))["handled"] == 2

    paused = backfill_of(api.put("/api/v1/triggers/backfill/pause", HOURLY_KEY, format="json"))
    assert (paused["status"], paused["paused"]) == ("PAUSED", True)
    assert backfill_step(namespace="t.api", flow_id="hourly", trigger_id="every-hour") is False
    resumed = backfill_of(api.put("/api/v1/triggers/backfill/unpause", HOURLY_KEY, format="json"))
    assert resumed["status"] == "RUNNING"
    other = {**HOURLY_KEY, "backfill": {**BACKFILL, "start": "2024-12-31T00:00:00Z"}}
    assert (
        "already in progress"
        in problem(api.put("/api/v1/triggers", other, format="json"), 409)["detail"]
    )
    assert (
        backfill_of(api.post("/api/v1/triggers/backfill/delete", HOURLY_KEY, format="json")) is None
    )
    problem(api.put("/api/v1/triggers/backfill/pause", HOURLY_KEY, format="json"), 409)
    problem(api.post("/api/v1/triggers/backfill/delete", HOURLY_KEY, format="json"), 409)


def test_bad_backfills_change_nothing(api) -> None:
    hook = {**HOURLY_KEY, "triggerId": "hook", "backfill": BACKFILL}
    assert (
        "no Schedule trigger"
        in problem(api.put("/api/v1/triggers", hook, format="json"), 422)["detail"]
    )
    future = {**HOURLY_KEY, "disabled": True,
              "backfill": {**BACKFILL, "end": "2999-01-01T00:00:00Z"}}  # fmt: skip
    assert (
        "the past only"
        in problem(api.put("/api/v1/triggers", future, format="json"), 422)["detail"]
    )
    assert not state().disabled  # the whole update was refused
    backwards = {**HOURLY_KEY, "backfill": {**BACKFILL, "end": "2024-01-01T00:00:00Z"}}
    assert (
        problem(api.put("/api/v1/triggers", backwards, format="json"), 400)["errors"][0]["field"]
        == "backfill.end"
    )
    assert state().backfill is None


def test_bulk_backfill_actions(api) -> None:
    for key in (HOURLY_KEY, {"namespace": "t.api.sub", "flowId": "nightly", "triggerId": "at-two"}):
        assert (
            api.put("/api/v1/triggers", {**key, "backfill": BACKFILL}, format="json").status_code
            == 200
        )
    paused = api.post("/api/v1/triggers/backfill/pause/by-query?namespace=t.api").json()
    assert paused["count"] == 2
    assert [r["ok"] for r in paused["results"]] == [True, False, True]  # the webhook has none
    assert state().backfill["paused"]
    assert state("at-two").backfill["paused"]
    resumed = api.post("/api/v1/triggers/backfill/unpause/by-triggers", [HOURLY_KEY], format="json")
    assert resumed.json()["count"] == 1
    assert not state().backfill["paused"]
    deleted = api.post("/api/v1/triggers/backfill/delete/by-query?type=Schedule").json()
    assert deleted["count"] == 2
    assert state().backfill is None
    assert state("at-two").backfill is None
    problem(api.post("/api/v1/triggers/backfill/pause/by-triggers", {"a": 1}, format="json"), 400)


def test_polling_triggers_show_their_evaluations(api, tmp_path) -> None:
    flow_deploy(
        source=f"id: inbox\nnamespace: t.api\n{LOG}triggers:\n  - id: files\n"
        f"    type: io.kestra.plugin.fs.local.Trigger\n    from: {tmp_path}\n    interval: PT30S\n"
    )
    TriggerState.objects.filter(trigger_id="files").update(last_error="FileNotFoundError: gone")
    [found] = api.get("/api/v1/triggers/search?type=Polling").json()["results"]
    context = found["triggerContext"]
    assert context["type"] == "io.kestra.plugin.fs.local.Trigger"
    assert context["nextEvaluationDate"] == context["nextExecutionDate"] is not None
    assert (context["lastEvaluationDate"], context["lastError"]) == (
        None,
        "FileNotFoundError: gone",
    )


def test_namespace_grants_decide_what_a_user_sees_and_switches(django_user_model) -> None:
    from tests.db.api_support import grant

    reader = django_user_model.objects.create_user(username="rita")
    grant(reader, "t.api", "read")
    grant(reader, "t.other", "write")
    client = authed_client(reader)

    # Search shows only readable namespaces; a namespace with nothing readable is a 403.
    assert ids(client.get("/api/v1/triggers/search")) == [
        "every-hour", "hook", "at-two", "after-hourly",
    ]  # fmt: skip
    problem(client.get("/api/v1/triggers/search?namespace=elsewhere"), 403)
    stranger = authed_client(django_user_model.objects.create_user(username="sam"))
    assert ids(stranger.get("/api/v1/triggers/search")) == []
    problem(stranger.get("/api/v1/triggers/t.api/hourly/every-hour"), 403)

    # Reading is not switching: a 403 and nothing changes.
    problem(client.put("/api/v1/triggers", {**HOURLY_KEY, "disabled": True}, format="json"), 403)
    assert not state().disabled
    backfill = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T03:00:00Z"}
    problem(
        client.put("/api/v1/triggers", {**HOURLY_KEY, "backfill": backfill}, format="json"), 403
    )

    # In bulk, the refused trigger is reported and the permitted one is switched.
    listener = {"namespace": "t.other", "flowId": "listener", "triggerId": "after-hourly"}
    body = {"triggers": [HOURLY_KEY, listener], "disabled": True}
    response = client.post("/api/v1/triggers/set-disabled/by-triggers", body, format="json")
    assert response.status_code == 200, response.content
    outcome = {r["triggerId"]: r["ok"] for r in response.json()["results"]}
    assert outcome == {"every-hour": False, "after-hourly": True}
    assert not state().disabled
    assert state("after-hourly").disabled

"""Backfills (bounded batches, pause/resume, progress) and the ``trigger`` command."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from executions.models import Execution
from flows.services import flow_deploy
from triggers.models import TriggerState
from triggers.schedules import fire_tick, live_trigger
from triggers.services import (
    BackfillError,
    backfill_progress,
    backfill_set_paused,
    backfill_start,
    backfill_step,
)

pytestmark = pytest.mark.django_db

NS, FLOW, TRIGGER = "t.back", "hourly", "every-hour"
KEY = {"namespace": NS, "flow_id": FLOW, "trigger_id": TRIGGER}
START, END = datetime(2025, 1, 1, 0, tzinfo=UTC), datetime(2025, 1, 1, 5, tzinfo=UTC)
SOURCE = f"""id: {FLOW}
namespace: {NS}
inputs:
  - id: who
    type: STRING
    defaults: cron
tasks:
  - id: a
    type: io.kestra.plugin.core.log.Log
    message: hi
triggers:
  - id: {TRIGGER}
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 * * * *"
"""


@pytest.fixture(autouse=True)
def deployed(settings):
    settings.TRELLIS_BACKFILL_BATCH = 2
    return flow_deploy(source=SOURCE).flow


def progress() -> dict:
    return backfill_progress(TriggerState.objects.get(**KEY))


def test_backfill_runs_in_bounded_batches_and_reports_progress(
    django_capture_on_commit_callbacks,
) -> None:
    with django_capture_on_commit_callbacks() as queued:
        backfill_start(**KEY, start=START, end=END, inputs={"who": "past"}, labels={"run": "bf"})
    assert len(queued) == 1  # the first step goes out after commit
    assert progress()["total"] == 6
    assert progress()["status"] == "RUNNING"

    with django_capture_on_commit_callbacks() as queued:
        assert backfill_step(**KEY) is True
    steps = [c for c in queued if "queue_step" in c.__qualname__]
    wakes = [c for c in queued if "wake_executor" in c.__qualname__]
    assert len(wakes) == 2  # metrics counted on commit are callbacks too
    assert len(steps) == 1
    assert (progress()["handled"], progress()["created"], progress()["percent"]) == (2, 2, 33.3)

    backfill_set_paused(**KEY, paused=True)
    assert backfill_step(**KEY) is False
    assert Execution.objects.count() == 2
    backfill_set_paused(**KEY, paused=False)
    while backfill_step(**KEY):
        pass
    final = progress()
    assert (final["status"], final["handled"], final["created"], final["skipped"]) == (
        "DONE", 6, 6, 0,
    )  # fmt: skip
    executions = list(Execution.objects.order_by("created_at"))
    assert [e.trigger["variables"]["date"] for e in executions] == [
        f"2025-01-01T0{h}:00:00Z" for h in range(6)
    ]
    assert all(e.trigger["variables"]["backfill"] is True for e in executions)
    assert all(e.inputs == {"who": "past"} and e.labels["run"] == "bf" for e in executions)


def test_ticks_that_already_ran_are_skipped_not_doubled() -> None:
    flow, spec, trigger = live_trigger(NS, FLOW, TRIGGER)
    assert fire_tick(flow, spec, trigger, datetime(2025, 1, 1, 3, tzinfo=UTC)) is not None
    backfill_start(**KEY, start=START, end=END)
    while backfill_step(**KEY):
        pass
    assert (progress()["created"], progress()["skipped"]) == (5, 1)
    assert Execution.objects.count() == 6


def test_bad_backfills_are_refused() -> None:
    with pytest.raises(BackfillError, match="future"):
        backfill_start(**KEY, start=START, end=datetime(2999, 1, 1, tzinfo=UTC))
    with pytest.raises(BackfillError, match="before start"):
        backfill_start(**KEY, start=END, end=START)
    with pytest.raises(BackfillError, match="no Schedule trigger"):
        backfill_start(**{**KEY, "trigger_id": "nope"}, start=START, end=END)
    backfill_start(**KEY, start=START, end=END)
    with pytest.raises(BackfillError, match="already in progress"):
        backfill_start(**KEY, start=START, end=END)


def run(*args: str) -> str:
    out = StringIO()
    call_command("trigger", *args, stdout=out)
    return out.getvalue()


def test_cli_backfill_list_enable_disable() -> None:
    text = run("backfill", NS, FLOW, TRIGGER, "--start", "2025-01-01T00:00", "--end",
               "2025-01-01T05:00Z", "--label", "k=v")  # fmt: skip
    assert "backfill of 6 tick(s) started" in text
    assert run("backfill-pause", NS, FLOW, TRIGGER).strip().endswith("backfill paused")
    status = json.loads(run("backfill-status", NS, FLOW, TRIGGER))
    assert (status["status"], status["labels"]) == ("PAUSED", {"k": "v"})
    [row] = json.loads(run("list", "--namespace", "t", "--json"))
    assert (row["triggerId"], row["type"], row["armed"]) == (TRIGGER, "Schedule", True)
    assert "disabled" in run("disable", NS, FLOW, TRIGGER)
    assert "silenced" not in run("list")
    assert "disabled" in run("list")
    assert "enabled (next" in run("enable", NS, FLOW, TRIGGER)
    with pytest.raises(CommandError, match="no trigger"):
        run("disable", NS, FLOW, "nope")


def test_cli_backfill_resume_after_pause_runs_it_to_the_end(
    django_capture_on_commit_callbacks,
) -> None:
    run("backfill", NS, FLOW, TRIGGER, "--start", "2025-01-01T00:00Z", "--end", "2025-01-01T05:00Z")
    assert backfill_step(**KEY) is True
    run("backfill-pause", NS, FLOW, TRIGGER)
    assert backfill_step(**KEY) is False  # a step already queued finds it paused

    with django_capture_on_commit_callbacks() as queued:
        text = run("backfill-resume", NS, FLOW, TRIGGER)

    assert text.strip().endswith("backfill resumed")
    assert [c for c in queued if "queue_step" in c.__qualname__]  # the next step goes out
    status = json.loads(run("backfill-status", NS, FLOW, TRIGGER))
    assert (status["status"], status["handled"], status["created"]) == ("RUNNING", 2, 2)
    while backfill_step(**KEY):
        pass
    assert (progress()["status"], progress()["created"]) == ("DONE", 6)
    assert Execution.objects.count() == 6


def test_cli_backfill_resume_without_a_backfill_fails() -> None:
    with pytest.raises(CommandError, match="no backfill in progress"):
        run("backfill-resume", NS, FLOW, TRIGGER)
    with pytest.raises(CommandError, match="no Schedule trigger 'nope'"):
        run("backfill-resume", NS, FLOW, "nope")

"""Flow concurrency queues: first come, first served whatever order the wake-ups arrive in,
and the sweeper wakes only the head of a long queue (regressions found by the chaos suite)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from executions.models import Execution
from executions.runtime import advance as runtime
from executions.runtime import concurrency
from executions.runtime.advance import advance_execution, sweep
from executions.services import execution_create
from flows.services import flow_deploy
from kernel.states import State

pytestmark = pytest.mark.django_db


def limited(limit: int):  # noqa: ANN201
    return flow_deploy(
        source=f"id: limited\nnamespace: t.queue\nconcurrency:\n  limit: {limit}\ntasks:\n"
        "  - id: a\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"
    ).flow


def state(execution: Execution) -> str:
    return Execution.objects.get(pk=execution.pk).state


def test_a_later_execution_woken_first_waits_for_an_earlier_one() -> None:
    flow = limited(1)
    first, second = execution_create(flow=flow), execution_create(flow=flow)
    advance_execution(second.id)  # the second wake-up is handled before the first
    assert state(second) == State.QUEUED
    advance_execution(first.id)
    assert state(first) == State.RUNNING
    advance_execution(second.id)
    assert state(second) == State.QUEUED


def test_an_execution_starting_with_slots_left_wakes_the_queue(monkeypatch) -> None:
    flow = limited(2)
    first, second = execution_create(flow=flow), execution_create(flow=flow)
    advance_execution(second.id)
    woken: list[str] = []
    monkeypatch.setattr(concurrency, "wake_executor", woken.append)
    advance_execution(first.id)
    assert (state(first), woken) == (State.RUNNING, [second.id])
    advance_execution(second.id)
    assert state(second) == State.RUNNING


def test_a_scheduled_execution_does_not_hold_up_the_queue() -> None:
    flow = limited(1)
    later = execution_create(flow=flow, scheduled_at=timezone.now() + timedelta(hours=1))
    now_one = execution_create(flow=flow)
    advance_execution(now_one.id)
    assert (state(later), state(now_one)) == (State.CREATED, State.RUNNING)


def test_the_sweeper_wakes_the_head_of_a_quiet_queue_not_all_of_it(monkeypatch) -> None:
    flow = limited(1)
    ids = [execution_create(flow=flow).id for _ in range(12)]
    for execution_id in ids:
        advance_execution(execution_id)
    assert state(Execution(pk=ids[0])) == State.RUNNING
    Execution.objects.filter(id__in=ids).update(updated_at=timezone.now() - timedelta(hours=1))
    woken: list[str] = []
    monkeypatch.setattr(runtime, "wake_executor", woken.append)
    sweep()
    assert woken == ids[:6]  # the quiet running one, then the five oldest queued

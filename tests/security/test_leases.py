"""Issue 21: user expressions never hold the database, a task's ``timeout`` covers its
rendering, and an attempt whose lease keeps expiring is not sent again for ever."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from executions.models import Execution, LogEntry, TaskRun, TaskRunAttempt
from executions.runtime import dispatch
from executions.runtime.advance import advance_execution, sweep
from executions.services import execution_create, execution_wait
from flows.services import flow_deploy
from kernel.states import State

CATASTROPHIC_IF = """
id: backtrack
namespace: sec.leases
tasks:
  - id: check
    type: io.kestra.plugin.core.flow.If
    condition: "{{ (('a' * 60) ~ 'b') | replace({'(a|aa)+$': 'x'}, regexp=true) == 'x' }}"
    then:
      - id: yes
        type: io.kestra.plugin.core.log.Log
        message: matched
"""

HELLO = """
id: hello
namespace: sec.leases
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: hi
"""


@pytest.fixture
def no_messages(monkeypatch) -> None:
    """Broker messages are not the subject here: the tests drive the executor and sweeper."""
    monkeypatch.setattr(dispatch, "send", lambda *args, **kwargs: None)


@pytest.mark.django_db(transaction=True)
def test_a_catastrophic_regex_in_an_if_does_not_block_other_writers(no_messages) -> None:
    """It held SQLite's write lock for the whole render: an unrelated run got HTTP 500."""
    slow = execution_create(flow=flow_deploy(source=CATASTROPHIC_IF).flow)
    other_flow = flow_deploy(source=HELLO).flow
    took: list[float] = []

    def executor_step() -> None:
        start = time.monotonic()
        try:
            advance_execution(slow.id)
        finally:
            took.append(time.monotonic() - start)
            connection.close()

    step = threading.Thread(target=executor_step)
    step.start()
    time.sleep(0.3)  # the executor now holds the write lock and renders the condition
    waited = time.monotonic()
    other = execution_create(flow=other_flow)  # an unrelated run, while it renders
    waited = time.monotonic() - waited
    step.join(timeout=60)

    assert Execution.objects.filter(pk=other.pk).exists()
    assert waited < 10.0  # SQLite's busy timeout is 30 s: it waited, it did not fail
    assert len(took) == 1
    assert took[0] < 10.0  # the step's budget is 3 s of CPU; the lock went with it
    check = TaskRun.objects.get(execution=slow, task_id="check")
    assert check.state == State.FAILED
    message = LogEntry.objects.filter(task_run_id=check.id, level="ERROR").first().message
    assert message.startswith("check: tasks.check.condition: regular expression '(a|aa)+$'")
    assert "executor's time budget for flowable expressions" in message


def _lose_the_lease(attempt: TaskRunAttempt) -> None:
    """What a worker that dies (or starves its heartbeat) leaves: a RUNNING attempt whose
    lease has expired."""
    moment = timezone.now()
    TaskRunAttempt.objects.filter(pk=attempt.pk).update(
        state=State.RUNNING, owner="doomed-host:1", started_at=moment,
        lease_expires_at=moment - timedelta(seconds=1),
    )  # fmt: skip
    TaskRun.objects.filter(pk=attempt.task_run_id).update(
        state=State.RUNNING, attempts=attempt.number
    )


@pytest.mark.django_db(transaction=True)
def test_a_task_run_that_keeps_losing_its_lease_fails_with_the_reason(
    no_messages, settings
) -> None:
    """A jq abort killed the worker, the attempt was sent again: 8 attempts and counting."""
    settings.TRELLIS_MAX_LOST_LEASES = 3
    execution = execution_create(flow=flow_deploy(source=HELLO).flow)
    advance_execution(execution.id)
    run = TaskRun.objects.get(execution=execution, task_id="say")

    for _ in range(3):
        attempt = run.attempt_rows.order_by("-number").first()
        _lose_the_lease(attempt)
        assert sweep()["lost"] == 1

    run.refresh_from_db()
    assert run.state == State.FAILED
    assert run.attempt_rows.count() == 3  # no fourth attempt
    assert list(run.attempt_rows.values_list("state", flat=True)) == [State.FAILED] * 3
    reason = LogEntry.objects.get(task_run_id=run.id, level="ERROR").message
    assert reason.startswith("say failed: its attempts lost their lease 3 times")
    advance_execution(execution.id)
    assert Execution.objects.get(pk=execution.pk).state == State.FAILED


@pytest.mark.django_db(transaction=True)
def test_a_lost_lease_below_the_limit_is_still_sent_again(no_messages, settings) -> None:
    settings.TRELLIS_MAX_LOST_LEASES = 3
    execution = execution_create(flow=flow_deploy(source=HELLO).flow)
    advance_execution(execution.id)
    run = TaskRun.objects.get(execution=execution, task_id="say")
    _lose_the_lease(run.attempt_rows.get())

    sweep()

    run.refresh_from_db()
    assert run.state == State.CREATED
    states = list(run.attempt_rows.order_by("number").values_list("state", flat=True))
    assert states == [State.FAILED, State.QUEUED]


SLOW_RENDER = """
id: slow-render
namespace: sec.leases
tasks:
  - id: slow
    type: io.kestra.plugin.core.log.Log
    timeout: PT2S
    message: "{{ 1 | jq('def f: f; f') }}"
"""


@pytest.mark.integration
def test_a_task_timeout_covers_its_rendering(workers) -> None:
    """`timeout: PT5S` was not enforced while jq spun in the render (attempts of 70-94 s)."""
    execution = execution_create(flow=flow_deploy(source=SLOW_RENDER).flow)

    done = execution_wait(execution.id, timeout=60)

    assert done.state == State.FAILED
    run = TaskRun.objects.get(execution=done, task_id="slow")
    assert run.attempts == 1
    took = (run.ended_at - run.started_at).total_seconds()
    assert took < 4.5  # the expression's own budget is 5 s: the task's 2 s came first
    errors = list(LogEntry.objects.filter(task_run_id=run.id, level="ERROR").values_list(
        "message", flat=True
    ))  # fmt: skip
    assert any(
        m.startswith("tasks.slow.message: jq 'def f: f; f' was stopped: Timeout after PT2S")
        for m in errors
    ), errors

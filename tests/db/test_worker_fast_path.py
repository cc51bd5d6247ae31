"""The worker's fast path (docs/architecture.md): a worker records its result and advances
the execution in one transaction, and runs the next task on its own queue at once (eager
continuation) within the chain's bounds; everything it declines goes through the broker as
before. Driven in this process, with every message captured instead of sent."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from executions.models import Execution, TaskRun, TaskRunAttempt
from executions.runtime import advance, dispatch
from executions.runtime.advance import advance_execution
from executions.services import execution_create
from executions.worker.attempt import EAGER_NOTE, run_attempt
from flows.services import flow_deploy
from kernel.states import State

pytestmark = pytest.mark.django_db(transaction=True)
LOG = "io.kestra.plugin.core.log.Log"


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple, str]]:
    """Every message the code under test sends: (task name, args, queue)."""
    messages: list[tuple[str, tuple, str]] = []
    monkeypatch.setattr(
        dispatch, "send", lambda name, args, *, queue, countdown=None: messages.append(
            (name, tuple(args), queue)
        ),
    )  # fmt: skip
    return messages


def chain(n: int, *, group_at: int | None = None) -> str:
    tasks = ""
    for i in range(n):
        tasks += f"  - id: t{i}\n    type: {LOG}\n    message: m{i}\n"
        if i == group_at:
            tasks += "    workerGroup:\n      key: elsewhere\n"
    return flow_deploy(source=f"id: chain\nnamespace: fast.path\ntasks:\n{tasks}").flow


def started(flow) -> tuple[Execution, int]:  # noqa: ANN001
    """An execution the executor started: its first attempt QUEUED (its message dropped)."""
    execution = execution_create(flow=flow)
    advance_execution(execution.id)
    return execution, TaskRunAttempt.objects.get(execution=execution).pk


def attempts(execution: Execution) -> list[tuple[str, str, bool]]:
    rows = TaskRunAttempt.objects.filter(execution=execution).order_by("task_run__seq")
    return [(a.task_run.task_id, a.state, a.note.startswith(EAGER_NOTE)) for a in rows]


def test_one_message_runs_a_whole_sequential_flow(sent) -> None:
    execution, first = started(chain(5))
    sent.clear()

    assert run_attempt(first) == State.SUCCESS

    execution.refresh_from_db()
    assert execution.state == State.SUCCESS
    assert attempts(execution) == [("t0", "SUCCESS", False)] + [
        (f"t{i}", "SUCCESS", True) for i in range(1, 5)
    ]
    assert sent == []  # no task message, no executor wake-up: the worker did it all


def test_the_chain_yields_to_the_queue_at_its_length_bound(sent, settings) -> None:
    settings.TRELLIS_EAGER_CHAIN = 3
    execution, first = started(chain(5))
    sent.clear()

    run_attempt(first)

    assert [(a[0], a[1]) for a in attempts(execution)] == [
        ("t0", "SUCCESS"), ("t1", "SUCCESS"), ("t2", "SUCCESS"), ("t3", "QUEUED"),
    ]  # fmt: skip
    t3 = TaskRunAttempt.objects.get(execution=execution, task_run__task_id="t3")
    assert sent == [(dispatch.RUN_ATTEMPT, (t3.pk,), "default")]
    run_attempt(t3.pk)  # the message's delivery starts a new chain
    assert Execution.objects.get(pk=execution.pk).state == State.SUCCESS


def test_a_task_for_another_queue_is_sent_not_run(sent) -> None:
    execution, first = started(chain(3, group_at=1))
    sent.clear()

    run_attempt(first)

    t1 = TaskRunAttempt.objects.get(execution=execution, task_run__task_id="t1")
    assert (t1.state, t1.queue) == (State.QUEUED, "wg.elsewhere")
    assert sent == [(dispatch.RUN_ATTEMPT, (t1.pk,), "wg.elsewhere")]


def test_without_the_fast_path_the_executor_plans_every_hop(sent, settings) -> None:
    settings.TRELLIS_WORKER_ADVANCES = False
    execution, first = started(chain(2))
    sent.clear()

    run_attempt(first)

    assert sent == [(dispatch.ADVANCE, (execution.id,), dispatch.EXECUTOR_QUEUE)]
    assert TaskRun.objects.filter(execution=execution).count() == 1


def test_a_failure_of_the_rules_in_the_worker_keeps_the_result_and_wakes_the_executor(
    sent, monkeypatch
) -> None:
    execution, first = started(chain(2))
    sent.clear()

    def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        TaskRun.objects.filter(execution=execution).update(task_id="half-written")
        raise RuntimeError("a bug in a flowable")

    monkeypatch.setattr(advance, "advance_locked", broken)

    assert run_attempt(first) == State.SUCCESS

    run = TaskRun.objects.get(execution=execution)
    assert (run.task_id, run.state) == ("t0", State.SUCCESS)  # its half-done writes undone
    assert sent == [(dispatch.ADVANCE, (execution.id,), dispatch.EXECUTOR_QUEUE)]


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite has no row locks: nothing is ever busy"
)
def test_a_busy_execution_row_is_not_waited_for(sent) -> None:
    """Another process holds the execution row (the executor planning, a sibling's
    worker): the result is recorded at once and the executor woken, without waiting."""
    execution, first = started(chain(2))
    sent.clear()
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        with transaction.atomic():
            Execution.objects.select_for_update().get(pk=execution.pk)
            locked.set()
            release.wait(10)
        connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    locked.wait(5)
    try:
        assert run_attempt(first) == State.SUCCESS
    finally:
        release.set()
        holder.join()

    assert TaskRun.objects.filter(execution=execution).count() == 1
    assert sent == [(dispatch.ADVANCE, (execution.id,), dispatch.EXECUTOR_QUEUE)]

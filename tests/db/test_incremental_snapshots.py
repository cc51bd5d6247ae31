"""The executor's incremental snapshots and the per-process flow spec cache give the engine
exactly what a full read would, whatever happens between hops (workers, services, retries,
kills, restarts).

Executions are driven hop by hop in this process (executor, then the attempts it queued) with
``TRELLIS_CHECK_SNAPSHOTS`` set, so every hop that reuses remembered task runs is compared
with a full read and raises ``StaleSnapshot`` on any difference. Messages are not sent: the
driver plays both roles.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from executions.models import Execution, TaskRun, TaskRunAttempt
from executions.runtime import advance as runtime
from executions.runtime import dispatch, loading, snapshot_cache
from executions.runtime.advance import advance_execution
from executions.services import (
    execution_create,
    execution_kill,
    execution_restart,
    execution_resume,
    task_run_set_state,
)
from executions.worker.attempt import run_attempt
from flows.services import flow_deploy
from kernel.states import TERMINAL, State

pytestmark = pytest.mark.django_db(transaction=True)
LOG = "io.kestra.plugin.core.log.Log"
FAIL = "io.kestra.plugin.core.execution.Fail"


@pytest.fixture(autouse=True, params=["executor hops", "worker fast path"])
def _checked_and_quiet(request, monkeypatch: pytest.MonkeyPatch, settings) -> None:
    """Every incremental read checked; no message leaves this process (workers started by
    other tests of the session must not play a part in these executions). Each test runs
    twice: with every hop planned by the executor, and with the worker's fast path planning
    after each record (without eager continuation, so the driver still sees each hop)."""
    if request.param == "executor hops":
        settings.TRELLIS_WORKER_ADVANCES = False
    else:
        settings.TRELLIS_EAGER_CHAIN = 1
    monkeypatch.setenv("TRELLIS_CHECK_SNAPSHOTS", "1")
    monkeypatch.setattr(dispatch, "send", lambda *args, **kwargs: None)
    snapshot_cache.forget_all()


def drive(execution_id: str, *, between: Callable[[int], None] | None = None) -> str:
    """Advance, then run every queued attempt, until the execution ends or stops moving;
    ``between(hop)`` runs after each hop's attempts (a user acting mid-run)."""
    for hop in range(500):
        state = advance_execution(execution_id)
        queued = TaskRunAttempt.objects.filter(execution_id=execution_id, state=State.QUEUED)
        ids = list(queued.values_list("pk", flat=True))
        for attempt_id in ids:
            run_attempt(attempt_id)
        if between is not None:
            between(hop)
        if state in TERMINAL or (not ids and state == advance_execution(execution_id)):
            return str(Execution.objects.get(pk=execution_id).state)
    raise AssertionError("the execution did not settle in 500 hops")


def deploy(body: str, flow_id: str = "snap") -> object:
    return flow_deploy(source=f"id: {flow_id}\nnamespace: t.snap\n{body}").flow


def hits() -> int:
    return snapshot_cache.stats()["hits"]


def test_a_growing_loop_reuses_what_it_read_and_ends_like_a_full_read() -> None:
    flow = deploy(
        "tasks:\n"
        "  - id: loop\n    type: io.kestra.plugin.core.flow.ForEach\n"
        "    values: [1, 2, 3, 4, 5, 6, 7, 8]\n    concurrencyLimit: 3\n"
        f"    tasks:\n      - id: a\n        type: {LOG}\n        message: '{{{{ taskrun.value }}}}'\n"
        "      - id: inner\n        type: io.kestra.plugin.core.flow.Parallel\n"
        f"        tasks:\n          - id: b\n            type: {LOG}\n            message: b\n"
        f"          - id: c\n            type: {LOG}\n            message: c\n"
        f"  - id: after\n    type: {LOG}\n    message: '{{{{ outputs.a }}}}'\n"
    )
    before = hits()
    execution = execution_create(flow=flow)

    assert drive(execution.id) == State.SUCCESS
    assert TaskRun.objects.filter(execution=execution, state=State.SUCCESS).count() == 34
    assert hits() - before >= 5, snapshot_cache.stats()  # most hops read only what moved


def test_retries_errors_and_finally_see_every_change() -> None:
    flow = deploy(
        "tasks:\n"
        f"  - id: flaky\n    type: {FAIL}\n"
        "    retry:\n      type: constant\n      interval: PT0S\n      maxAttempt: 3\n"
        f"errors:\n  - id: handler\n    type: {LOG}\n    message: failed\n"
        f"finally:\n  - id: last\n    type: {LOG}\n    message: done\n"
    )
    execution = execution_create(flow=flow)

    assert drive(execution.id) == State.FAILED
    flaky = TaskRun.objects.get(execution=execution, task_id="flaky")
    assert (flaky.state, flaky.attempts) == (State.FAILED, 3)
    ran = set(TaskRun.objects.filter(execution=execution).values_list("task_id", "state"))
    assert {("handler", State.SUCCESS), ("last", State.SUCCESS)} <= ran


def test_a_kill_between_hops_is_seen_although_the_runs_were_remembered() -> None:
    flow = deploy("tasks:\n" + "".join(f"  - id: t{i}\n    type: {LOG}\n    message: m\n"
                                       for i in range(6)))  # fmt: skip
    execution = execution_create(flow=flow)

    def kill_at_third(hop: int) -> None:
        if hop == 2:
            execution_kill(Execution.objects.get(pk=execution.id))

    assert drive(execution.id, between=kill_at_third) == State.KILLED
    assert TaskRun.objects.filter(execution=execution).count() < 6


def test_a_restart_and_a_hand_set_state_rewrite_ended_runs_and_are_not_missed() -> None:
    flow = deploy(
        f"tasks:\n  - id: ok\n    type: {LOG}\n    message: ok\n"
        f"  - id: broken\n    type: {FAIL}\n"
        f"  - id: then\n    type: {LOG}\n    message: then\n"
    )
    execution = execution_create(flow=flow)
    assert drive(execution.id) == State.FAILED

    execution_restart(Execution.objects.get(pk=execution.id))  # RESTARTED: runs rewritten
    assert drive(execution.id) == State.FAILED
    broken = TaskRun.objects.get(execution=execution, task_id="broken")
    assert broken.attempts == 2

    task_run_set_state(Execution.objects.get(pk=execution.id), broken.id, State.SUCCESS)
    assert drive(execution.id) == State.SUCCESS
    assert TaskRun.objects.get(execution=execution, task_id="then").state == State.SUCCESS


def test_a_resumed_pause_continues_with_the_runs_after_it() -> None:
    flow = deploy(
        "tasks:\n  - id: wait\n    type: io.kestra.plugin.core.flow.Pause\n"
        f"  - id: after\n    type: {LOG}\n    message: resumed\n"
    )
    execution = execution_create(flow=flow)
    assert drive(execution.id) == State.PAUSED

    execution_resume(Execution.objects.get(pk=execution.id))
    assert drive(execution.id) == State.SUCCESS
    assert TaskRun.objects.get(execution=execution, task_id="after").state == State.SUCCESS


def test_a_remembered_snapshot_that_went_stale_is_caught_by_the_check() -> None:
    """The check is what the other tests lean on: it must fail when a writer breaks the
    rule (here: an ended run changed behind the executor's back, without a version bump)."""
    from executions.runtime.persistence import StaleSnapshot

    flow = deploy("tasks:\n" + "".join(f"  - id: t{i}\n    type: {LOG}\n    message: m\n"
                                       for i in range(3)))  # fmt: skip
    execution = execution_create(flow=flow)
    advance_execution(execution.id)
    run_attempt(TaskRunAttempt.objects.get(execution_id=execution.id).pk)
    advance_execution(execution.id)  # remembers t0 as ended
    TaskRun.objects.filter(execution=execution, task_id="t0").update(outputs={"sneaky": 1})

    with pytest.raises(StaleSnapshot, match="sneaky"):
        advance_execution(execution.id)


def test_the_flow_spec_is_read_once_per_execution(
    django_assert_num_queries: Callable[..., object],
) -> None:
    flow = deploy(f"tasks:\n  - id: a\n    type: {LOG}\n    message: m\n")
    execution = Execution.objects.get(pk=execution_create(flow=flow).id)
    first = loading.execution_flow_spec(execution)

    with django_assert_num_queries(0):  # type: ignore[operator]
        assert loading.execution_flow_spec(execution) is first


def test_a_template_edit_reaches_an_execution_whose_spec_was_already_read() -> None:
    from kernel.engine.planner import all_tasks
    from templates.services import template_deploy

    def template(task_id: str) -> None:
        template_deploy(source=f"id: greet\nnamespace: t.snap\ntasks:\n  - id: {task_id}\n"
                        f"    type: {LOG}\n    message: m\n")  # fmt: skip

    template("hello")
    flow = deploy("tasks:\n  - id: tpl\n    type: io.kestra.plugin.core.flow.Template\n"
                  "    namespace: t.snap\n    templateId: greet\n")  # fmt: skip
    execution = Execution.objects.get(pk=execution_create(flow=flow).id)
    assert "hello" in {t.id for t in all_tasks(loading.execution_flow_spec(execution))}

    template("goodbye")

    ids = {t.id for t in all_tasks(loading.execution_flow_spec(execution))}
    assert ("goodbye" in ids, "hello" in ids) == (True, False)


class TwoProcesses:
    """Two executor processes taking turns (prefork children sharing the executor queue):
    each hop runs with the other process's memory of the task runs."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from kernel.lru import LRU

        self.monkeypatch = monkeypatch
        self.memories = [snapshot_cache._known, LRU(snapshot_cache.MAX_EXECUTIONS)]

    def __call__(self, hop: int) -> None:
        self.monkeypatch.setattr(snapshot_cache, "_known", self.memories[(hop + 1) % 2])


def test_hops_that_alternate_between_two_executor_processes_still_read_only_what_moved(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flow = deploy(
        "tasks:\n  - id: loop\n    type: io.kestra.plugin.core.flow.ForEach\n"
        "    values: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n"
        f"    tasks:\n      - id: a\n        type: {LOG}\n        message: '{{{{ taskrun.value }}}}'\n"
        f"  - id: after\n    type: {LOG}\n    message: '{{{{ outputs.a }}}}'\n"
    )
    before = hits()
    execution = execution_create(flow=flow)

    assert drive(execution.id, between=TwoProcesses(monkeypatch)) == State.SUCCESS
    assert TaskRun.objects.filter(execution=execution, state=State.SUCCESS).count() == 12
    # Each process's memory is two hops old at every hop but its first: still good.
    assert hits() - before >= 9, snapshot_cache.stats()


def test_a_restart_seen_by_the_other_executor_process_is_not_missed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flow = deploy(
        f"tasks:\n  - id: ok\n    type: {LOG}\n    message: ok\n"
        f"  - id: broken\n    type: {FAIL}\n"
        "    retry:\n      type: constant\n      interval: PT0S\n      maxAttempt: 2\n"
        f"  - id: then\n    type: {LOG}\n    message: then\n"
        f"errors:\n  - id: handler\n    type: {LOG}\n    message: failed\n"
    )
    execution = execution_create(flow=flow)
    turns = TwoProcesses(monkeypatch)
    assert drive(execution.id, between=turns) == State.FAILED

    execution_restart(Execution.objects.get(pk=execution.id))  # rewrites ended runs
    assert drive(execution.id, between=turns) == State.FAILED
    broken = TaskRun.objects.get(execution=execution, task_id="broken")
    task_run_set_state(Execution.objects.get(pk=execution.id), broken.id, State.SUCCESS)
    assert drive(execution.id, between=turns) == State.SUCCESS
    assert TaskRun.objects.get(execution=execution, task_id="then").state == State.SUCCESS


def test_a_hop_elsewhere_that_changes_an_ended_run_makes_this_processs_copy_stale() -> None:
    """Another executor process's plan sets an ended run WARNING (as warningOnRetry does):
    the runs this process remembered from before it must not be reused."""
    from django.db import transaction

    from executions.runtime.appliers import apply_plan
    from kernel.engine.plan import Plan, SetTaskRunState

    flow = deploy("tasks:\n" + "".join(f"  - id: t{i}\n    type: {LOG}\n    message: m\n"
                                       for i in range(3)))  # fmt: skip
    execution = execution_create(flow=flow)
    advance_execution(execution.id)
    run_attempt(TaskRunAttempt.objects.get(execution_id=execution.id).pk)
    advance_execution(execution.id)  # this process remembers t0 as ended
    t0 = TaskRun.objects.get(execution=execution, task_id="t0")
    with transaction.atomic():  # the other process's hop: its own memory, not ours
        locked = Execution.objects.select_for_update().get(pk=execution.pk)
        # As the planner names it: an ended run moves only through an action.
        warned = SetTaskRunState(t0.id, State.WARNING, via="retry")
        apply_plan(locked, Plan([warned]), runtime.now())

    assert drive(execution.id) == State.WARNING  # no StaleSnapshot on the way
    assert TaskRun.objects.get(pk=t0.pk).state == State.WARNING

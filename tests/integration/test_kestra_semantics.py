"""Kestra semantics beyond the shared corpus, on real workers (issue 22): a retry declared on
a flowable, a replay inside nested loops, Kestra's wording for a missing template."""

from __future__ import annotations

import pytest
from django.db import transaction

from executions.models import Execution, LogEntry, TaskRun, TaskRunAttempt
from executions.services import execution_create, execution_replay, execution_wait
from flows.services import flow_deploy
from kernel.states import State

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def deploy(source: str):  # noqa: ANN201
    return flow_deploy(source=source).flow


def test_a_retry_on_a_sequential_gives_its_failing_child_three_attempts(workers) -> None:
    flow = deploy(
        """
id: retry-flowable
namespace: it.kestra
tasks:
  - id: flowable
    type: io.kestra.plugin.core.flow.Sequential
    retry:
      type: constant
      interval: PT0.2S
      maxAttempts: 3
    tasks:
      - id: child
        type: io.kestra.plugin.core.execution.Fail
"""
    )

    done = execution_wait(execution_create(flow=flow).id, timeout=60)

    assert done.state == State.FAILED
    child = TaskRun.objects.get(execution=done, task_id="child")
    assert child.attempts == 3
    assert (
        list(TaskRunAttempt.objects.filter(task_run=child).order_by("number").values_list("state"))
        == [(State.FAILED,)] * 3
    )
    assert TaskRun.objects.get(execution=done, task_id="flowable").state == State.FAILED


LOOPS = """
id: loops
namespace: it.kestra
tasks:
  - id: outer
    type: io.kestra.plugin.core.flow.EachSequential
    value: [x, y]
    tasks:
      - id: inner
        type: io.kestra.plugin.core.flow.EachParallel
        value: ["1", "2"]
        tasks:
          - id: seq
            type: io.kestra.plugin.core.flow.Sequential
            tasks:
              - id: t1
                type: io.kestra.plugin.core.debug.Return
                format: "{{ execution.id }}"
              - id: t2
                type: io.kestra.plugin.core.debug.Return
                format: "{{ execution.id }}"
  - id: end
    type: io.kestra.plugin.core.debug.Return
    format: "{{ execution.id }}"
"""


def _values(run: TaskRun, by_id: dict[str, TaskRun]) -> tuple[str, ...]:
    chain: list[str] = []
    node: TaskRun | None = run
    while node is not None:
        if node.value is not None and (not chain or chain[0] != node.value):
            chain.insert(0, node.value)
        node = by_id.get(node.parent_id) if node.parent_id else None
    return tuple(chain)


def _find(execution: Execution, task_id: str, *values: str) -> TaskRun:
    runs = list(TaskRun.objects.filter(execution=execution))
    by_id = {r.id: r for r in runs}
    return next(r for r in runs if r.task_id == task_id and _values(r, by_id) == values)


def test_a_replay_inside_nested_loops_keeps_the_earlier_iteration(workers) -> None:
    flow = deploy(LOOPS)
    first = execution_wait(execution_create(flow=flow).id, timeout=60)
    assert first.state == State.SUCCESS
    assert TaskRun.objects.filter(execution=first).count() == 16

    with transaction.atomic():  # the executor is woken at commit: count what replay copied
        replay = execution_replay(first, _find(first, "seq", "y", "1").id)
        assert TaskRun.objects.filter(execution=replay).count() == 13
    done = execution_wait(replay.id, timeout=60)
    assert done.state == State.SUCCESS
    assert TaskRun.objects.filter(execution=done).count() == 16  # nothing kept made again
    # The earlier iteration was copied, not run again; the replayed branch ran in the replay.
    assert _find(done, "t2", "x", "1").outputs == {"value": first.id}
    assert _find(done, "t2", "y", "2").outputs == {"value": first.id}
    assert _find(done, "t1", "y", "1").outputs == {"value": done.id}
    assert _find(done, "end").outputs == {"value": done.id}


def test_a_missing_template_fails_with_kestras_message(workers) -> None:
    flow = deploy(
        "id: with-failed-template\nnamespace: it.kestra\ntasks:\n"
        "  - id: 1-return\n    type: io.kestra.plugin.core.flow.Template\n"
        "    namespace: it.kestra\n    templateId: invalid\n"
    )

    done = execution_wait(execution_create(flow=flow).id, timeout=60)

    assert done.state == State.FAILED
    assert TaskRun.objects.filter(execution=done).count() == 1
    errors = LogEntry.objects.filter(execution_id=done.id, level="ERROR")
    assert any(e.message.endswith("Can't find flow template 'it.kestra.invalid'") for e in errors)

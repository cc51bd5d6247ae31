"""A Subflow task run whose child ended while the hook that should end it was lost (the
process died after the child's commit) is ended by the sweeper (issue 9: nothing waits
forever)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from executions.models import Execution, TaskRun, TaskRunAttempt
from executions.runtime import dispatch
from executions.runtime.advance import sweep
from executions.services import execution_create
from flows.services import flow_deploy
from kernel.states import State

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_messages(monkeypatch):
    monkeypatch.setattr(dispatch, "send", lambda *args, **kwargs: None)


LONG_AGO = timedelta(minutes=5)


def running(source: str) -> Execution:
    """A RUNNING execution of the flow ``source`` deploys (nothing planned for it)."""
    execution = execution_create(flow=flow_deploy(source=source).flow)
    Execution.objects.filter(pk=execution.pk).update(state=State.RUNNING)
    return execution


def test_the_sweeper_ends_a_subflow_run_whose_child_ended_unheard(settings) -> None:
    settings.TRELLIS_QUIET_SECONDS = 30
    child_flow = flow_deploy(
        source="id: child\nnamespace: t.rec\noutputs:\n  - id: n\n    type: INT\n"
        "    value: 7\ntasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n"
        "    message: hi\n"
    ).flow
    parent = running(
        "id: parent\nnamespace: t.rec\ntasks:\n  - id: call\n"
        "    type: io.kestra.plugin.core.flow.Subflow\n    namespace: t.rec\n    flowId: child\n"
    )
    long_ago = timezone.now() - LONG_AGO
    run = TaskRun.objects.create(execution=parent, task_id="call", state=State.RUNNING, seq=1,
                                 attempts=1, decision={"wait": True})  # fmt: skip
    child = execution_create(flow=child_flow, parent=(parent, run.id))
    TaskRunAttempt.objects.create(
        task_run=run, execution=parent, number=1, state=State.RUNNING,
        owner=f"execution:{child.id}", started_at=long_ago, sent_at=long_ago,
    )  # fmt: skip
    # the child ended, but its ended hook never ran
    Execution.objects.filter(pk=child.pk).update(
        state=State.SUCCESS, ended_at=long_ago, outputs={"n": 7}
    )
    waiting = TaskRun.objects.create(
        execution=parent,
        task_id="call",
        value="second",
        iteration=1,
        state=State.RUNNING,
        seq=2,
        attempts=1,
    )
    young = execution_create(flow=child_flow, parent=(parent, waiting.id))
    TaskRunAttempt.objects.create(
        task_run=waiting, execution=parent, number=1, state=State.RUNNING,
        owner=f"execution:{young.id}", started_at=long_ago, sent_at=long_ago,
    )  # fmt: skip

    counts = sweep()

    assert counts["subflows"] == 1
    ended = TaskRun.objects.get(pk=run.pk)
    assert ended.state == State.SUCCESS
    assert ended.outputs["outputs"] == {"n": 7}
    assert TaskRunAttempt.objects.get(task_run=run).state == State.SUCCESS
    assert TaskRun.objects.get(pk=waiting.pk).state == State.RUNNING  # its child still runs
    assert sweep()["subflows"] == 0  # nothing left to recover


def test_the_sweeper_ends_a_for_each_item_run_whose_last_child_ended_unheard(settings) -> None:
    from executions.runtime.subflow_items import ITEMS_OWNER, TRIGGER_TYPE

    settings.TRELLIS_QUIET_SECONDS = 30
    child_flow = flow_deploy(
        source="id: item\nnamespace: t.rec\ntasks:\n  - id: a\n"
        "    type: io.kestra.plugin.core.log.Log\n    message: hi\n"
    ).flow
    parent = running(
        "id: batches\nnamespace: t.rec\ntasks:\n  - id: b\n"
        "    type: io.kestra.plugin.core.log.Log\n    message: hi\n"
    )
    long_ago = timezone.now() - LONG_AGO
    items = TaskRun.objects.create(
        execution=parent, task_id="each_items", state=State.RUNNING, seq=1, attempts=1,
        decision={"forEachItem": True, "wait": True},
        outputs={"numberOfBatches": 2, "iterations": {"CREATED": 0, "RUNNING": 1, "SUCCESS": 1}},
    )  # fmt: skip
    TaskRunAttempt.objects.create(
        task_run=items, execution=parent, number=1, state=State.RUNNING, owner=ITEMS_OWNER,
        started_at=long_ago, sent_at=long_ago,
    )  # fmt: skip
    for iteration in (0, 1):
        child = execution_create(
            flow=child_flow, parent=(parent, items.id),
            trigger={"id": "each_items", "type": TRIGGER_TYPE,
                     "variables": {"executionId": parent.id, "iteration": iteration}},
        )  # fmt: skip
        Execution.objects.filter(pk=child.pk).update(state=State.SUCCESS, ended_at=long_ago)

    counts = sweep()

    assert counts["subflows"] == 1
    ended = TaskRun.objects.get(pk=items.pk)
    assert ended.state == State.SUCCESS
    assert ended.outputs["iterations"]["SUCCESS"] == 2
    assert sweep()["subflows"] == 0

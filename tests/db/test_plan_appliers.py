"""Plan actions apply themselves (issue 16): every action type has one applier in
``executions.runtime.appliers``; a new action is one class plus one ``@applies`` function,
and a type without one is a clear error, before anything is written."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.db import transaction

from executions.models import Execution, LogEntry, TaskRun
from executions.runtime import appliers
from executions.runtime.appliers import (
    ApplyContext,
    NoApplier,
    applies,
    apply_after_writes,
    apply_plan,
    check_covered,
)
from executions.services import execution_create
from flows.services import flow_deploy
from kernel.clock import now
from kernel.engine.plan import ACTIONS, CreateTaskRun, Plan, ResumeExecution, StartSubflow
from kernel.states import State
from plugins.core.flow.for_each_item import StartItemSubflows

pytestmark = pytest.mark.django_db(transaction=True)

FLOW = """id: appliers
namespace: company.team
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: hi
"""


@dataclass(frozen=True)
class Shout:
    """A plan action nobody registered (as a plugin's new action would be, at first)."""

    task_run_id: str
    message: str


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Appliers registered by a test are forgotten after it."""
    monkeypatch.setattr(appliers, "_APPLIERS", dict(appliers._APPLIERS))
    monkeypatch.setattr(appliers, "_AFTER_WRITES", dict(appliers._AFTER_WRITES))


@pytest.fixture
def execution() -> Execution:
    return execution_create(flow=flow_deploy(source=FLOW).flow)


def test_every_action_the_kernel_declares_has_an_applier() -> None:
    assert ResumeExecution in ACTIONS
    assert StartSubflow in ACTIONS
    check_covered(ACTIONS)  # what the module runs at import
    check_covered((StartItemSubflows,))  # a plugin's own action, registered next to the others
    assert appliers._AFTER_WRITES.keys() == {StartSubflow, StartItemSubflows, ResumeExecution}


def test_a_type_without_an_applier_is_named_at_the_check() -> None:
    with pytest.raises(NoApplier, match=r"test_plan_appliers\.Shout has no applier.*@applies"):
        check_covered((*ACTIONS, Shout))


def test_an_action_without_an_applier_fails_the_plan_before_any_write(
    execution: Execution,
) -> None:
    run_id = "0" * 32
    create = CreateTaskRun(id=run_id, task_id="say", parent_id=None, value=None,
                           iteration=None, state=State.CREATED, dispatch=True)  # fmt: skip
    with transaction.atomic():
        locked = Execution.objects.select_for_update().get(pk=execution.pk)
        with pytest.raises(NoApplier, match=r"plan action .*Shout has no applier: register one"):
            apply_plan(locked, Plan([create, Shout(run_id, "hello")]), now())

    assert not TaskRun.objects.filter(pk=run_id).exists()
    assert Execution.objects.get(pk=execution.pk).version == execution.version


def test_an_action_type_is_applied_by_one_function_only(registry: None) -> None:
    with pytest.raises(ValueError, match="CreateTaskRun is already applied by _create_task_run"):
        applies(CreateTaskRun)(lambda action, ctx: None)


def test_a_new_action_is_one_class_and_one_applier(registry: None, execution: Execution) -> None:
    """Both phases: the plan phase buffers with the plan's rows; the after-writes phase
    runs once they are written, in plan order."""
    seen: list[str] = []

    @applies(Shout)
    def _shout(action: Shout, ctx: ApplyContext) -> None:
        ctx.logs.append(LogEntry(execution=ctx.execution, task_run_id=action.task_run_id,
                                 task_id=ctx.runs[action.task_run_id].task_id,
                                 timestamp=ctx.now, level="INFO", message=action.message))  # fmt: skip

    @dataclass(frozen=True)
    class Echo:
        task_run_id: str

    @applies(Echo, after_writes=True)
    def _echo(action: Echo, ctx: ApplyContext) -> None:
        seen.append(TaskRun.objects.get(pk=action.task_run_id).task_id)  # written by now

    run_id = "1" * 32
    create = CreateTaskRun(id=run_id, task_id="say", parent_id=None, value=None,
                           iteration=None, state=State.CREATED, dispatch=True)  # fmt: skip
    with transaction.atomic():
        locked = Execution.objects.select_for_update().get(pk=execution.pk)
        ctx = apply_plan(locked, Plan([create, Echo(run_id), Shout(run_id, "loud")]), now())
        assert seen == []
        assert ctx.later == [Echo(run_id)]
        assert [r.id for r in ctx.written()] == [run_id]
        assert len(ctx.attempts) == 1
        apply_after_writes(ctx)

    assert seen == ["say"]
    assert LogEntry.objects.get(task_run_id=run_id).message == "loud"

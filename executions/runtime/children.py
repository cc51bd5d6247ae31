"""What the subflow runtimes (Subflow, ForEachItem) share: the owner mark of a waiting
run, the boundary a child crosses, and how a parent's run ends or fails to start a child."""

from __future__ import annotations

from typing import Any

from executions.models import LogEntry, TaskRun, TaskRunAttempt
from executions.runtime.dispatch import wake_executor
from executions.runtime.states import set_task_run_state
from kernel.clock import now
from kernel.engine.plan import StartSubflow
from kernel.secrets import shown
from kernel.states import State
from kernel.taint import shown_form

SUBFLOW_OWNER = "execution:"
#: What a Subflow or ForEachItem asks of the namespace it starts a flow in (issue 21).
SUBFLOW_REACH = "start its flows as subflows"
#: Kestra's label tying the executions of one chain together.
CORRELATION_LABEL = "system.correlationId"


def end_run(run: TaskRun, state: State, outputs: dict[str, Any], message: str = "") -> None:
    moment = now()
    set_task_run_state(run, state, moment)  # first: an illegal move changes nothing
    TaskRunAttempt.objects.filter(task_run=run, state=State.RUNNING).update(
        state=state, ended_at=moment
    )
    run.outputs = {**(run.outputs or {}), **outputs}
    run.save()
    if message:
        LogEntry.objects.create(
            execution_id=run.execution_id, task_run_id=run.id, task_id=run.task_id,
            timestamp=moment, level="ERROR" if state == State.FAILED else "INFO",
            message=message,
        )  # fmt: skip
    wake_executor(run.execution_id)


def failed_attempt(run: TaskRun, message: str) -> None:
    """A child that could not even start is a failed attempt (a retry policy counts it).
    The message may quote what the parent rendered: secrets masked (issue 21)."""
    message = shown(shown_form(message))
    run.attempts += 1
    run.save(update_fields=["attempts"])
    moment = now()
    TaskRunAttempt.objects.create(
        task_run=run, execution_id=run.execution_id, number=run.attempts, state=State.FAILED,
        started_at=moment, ended_at=moment, sent_at=moment, note=message[:200],
    )  # fmt: skip
    end_run(run, State.FAILED, {}, message)


def flow_not_found(start: StartSubflow) -> str:
    """Kestra's message for a Subflow whose flow does not exist (issue 22)."""
    return (
        f"Unable to find flow '{start.namespace}'.'{start.flow_id}' "
        f"with revision '{start.revision or 0}'"
    )

"""The one place on the Django side that changes the state of an execution or a task run.

Every writer (the executor's ``apply_plan``, the worker's claim and record, the services,
the subflow runtimes, the lost-lease sweeper...) calls :func:`set_execution_state` or
:func:`set_task_run_state`, which check the move against the kernel's table for that kind
(``kernel.states``) before touching the row, so an illegal move raises
:class:`~kernel.states.IllegalTransition` and changes nothing. A plain-SQL write that
cannot take a model instance checks the move with the kernel first and keeps the state it
moves from in its ``UPDATE``'s ``WHERE`` (:func:`check_task_run_move`); a bulk
``.update(state=...)`` of either kind would filter on ``kernel.states.sources(kind, target)``
(none exists today).

Attempts (``TaskRunAttempt``) are not rows of either kind: each is one try, moved once from
QUEUED to RUNNING (its claim) and once to its end, every such write constrained by
``WHERE state = ...`` on the state it leaves.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from kernel.states import (
    TERMINAL,
    State,
    check_execution_transition,
    check_task_run_transition,
)
from orchestrator.observability import metrics

if TYPE_CHECKING:  # the models only type the arguments
    from executions.models import Execution, TaskRun


def history_entry(state: State | str, now: datetime) -> dict[str, str]:
    """One ``state_history`` item, as Kestra writes it."""
    return {"state": str(state), "date": now.isoformat().replace("+00:00", "Z")}


def set_execution_state(
    execution: Execution, state: State, now: datetime, *, via: str | None = None
) -> None:
    """Move the execution (in memory; the caller saves) and record the change; ``via``
    names the user action (``kernel.states.REOPEN``) an ended execution needs to move."""
    state = check_execution_transition(execution.state, state, f"execution {execution.id}",
                                       via=via)  # fmt: skip
    execution.state = state
    execution.state_history = [*execution.state_history, history_entry(state, now)]
    if state == State.RUNNING and execution.started_at is None:
        execution.started_at = now
        metrics.inc_on_commit(
            metrics.EXECUTIONS_STARTED, namespace=execution.namespace, flow=execution.flow_id
        )
    execution.ended_at = now if state in TERMINAL else None
    if state in TERMINAL:
        metrics.inc_on_commit(metrics.EXECUTIONS_ENDED, namespace=execution.namespace,
                              flow=execution.flow_id, state=str(state))  # fmt: skip


def set_task_run_state(
    run: TaskRun, state: State, now: datetime, *, via: str | None = None
) -> bool:
    """Move the task run (in memory; the caller saves) and record the change: its history,
    and ``ended_at`` (set when it ends, cleared when it runs again). Staying in its state is
    no move: nothing changes and the answer is False."""
    if State(run.state) == State(state):
        return False
    state = check_task_run_transition(run.state, state, f"task run {run.task_id}", via=via)
    run.state = state
    run.state_history = [*run.state_history, history_entry(state, now)]
    run.ended_at = now if state in TERMINAL else None
    return True


def check_task_run_move(current: State, state: State, what: str = "") -> State:
    """For a plain-SQL write that constrains its ``UPDATE`` to ``state = current`` itself
    (the worker's record): the move checked before the statement is issued."""
    return check_task_run_transition(current, state, what)

"""Changing states by hand (a task run, an execution), forcing a queued execution to run, labels."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction

from access.policy import Action, check
from executions.errors import ExecutionError
from executions.models import Execution, TaskRun
from executions.runtime.dispatch import wake_executor
from executions.runtime.persistence import sync_label_rows
from executions.runtime.states import set_execution_state
from executions.services.common import lock_row, move_run, save_written
from executions.services.resume import execution_resume
from kernel.clock import now
from kernel.states import TERMINAL, State

SETTABLE_TASK_RUN_STATES = (State.SUCCESS, State.WARNING, State.FAILED)


def task_run_set_state(
    execution: Execution, task_run_id: str, state: State | str, *, actor: Any = None
) -> Execution:
    """Change an ended task run's state by hand; a finished execution is then re-evaluated
    (RESTARTED) so its state and the branches that depend on it follow."""
    check(actor, execution.namespace, Action.EXECUTE)
    try:
        state = State(str(state).upper())
    except ValueError:
        raise ExecutionError(f"unknown state {state!r}") from None
    if state not in SETTABLE_TASK_RUN_STATES:
        allowed = ", ".join(SETTABLE_TASK_RUN_STATES)
        raise ExecutionError(f"a task run can be set to {allowed}, not {state}")
    with transaction.atomic():
        locked = lock_row(execution)
        run = TaskRun.objects.select_for_update().filter(execution=locked, pk=task_run_id).first()
        if run is None:
            raise ExecutionError(f"execution {locked.id} has no task run {task_run_id}")
        if run.state not in TERMINAL:
            raise ExecutionError(f"task run {run.task_id} is {run.state}; wait until it ends")
        if run.state == state:
            return locked
        move_run(run, state, via="change-state")
        parent = TaskRun.objects.filter(pk=run.parent_id).first() if run.parent_id else None
        while parent is not None:
            if parent.state in TERMINAL:
                move_run(parent, State.RUNNING, via="change-state")
            parent = (
                TaskRun.objects.filter(pk=parent.parent_id).first() if parent.parent_id else None
            )
        if locked.state in TERMINAL:
            set_execution_state(locked, State.RESTARTED, now(), via="change-state")
        save_written(locked)
        wake_executor(locked.id)
    return locked


def execution_force_run(execution: Execution, *, actor: Any = None) -> Execution:
    """Start a CREATED or QUEUED execution now, whatever the flow's concurrency limit; a
    PAUSED one is resumed; a RUNNING one is nudged (its executor woken)."""
    check(actor, execution.namespace, Action.EXECUTE)
    if execution.state == State.PAUSED:
        return execution_resume(execution)
    with transaction.atomic():
        locked = lock_row(execution)
        if locked.state == State.RUNNING:
            wake_executor(locked.id)
            return locked
        if locked.state not in (State.CREATED, State.QUEUED):
            raise ExecutionError(
                f"execution {locked.id} is {locked.state}: only CREATED, QUEUED, PAUSED or "
                "RUNNING executions can be forced to run"
            )
        set_execution_state(locked, State.RUNNING, now())
        save_written(locked)
        wake_executor(locked.id)
    return locked


def execution_unqueue(
    execution: Execution, state: State | str = State.CANCELLED, *, actor: Any = None
) -> Execution:
    """Take a QUEUED execution out of its queue: RUNNING starts it now, CANCELLED or KILLED
    ends it."""
    check(actor, execution.namespace, Action.EXECUTE)
    try:
        target = State(str(state).upper())
    except ValueError:
        raise ExecutionError(f"unknown state {state!r}") from None
    if target not in (State.RUNNING, State.CANCELLED, State.KILLED):
        raise ExecutionError(f"unqueue to RUNNING, CANCELLED or KILLED, not {target}")
    with transaction.atomic():
        locked = lock_row(execution)
        if locked.state != State.QUEUED:
            raise ExecutionError(f"execution {locked.id} is {locked.state}, not QUEUED")
        set_execution_state(locked, target, now())
        save_written(locked)
        wake_executor(locked.id)
    return locked


def execution_set_labels(
    execution: Execution, labels: Mapping[str, str], *, actor: Any = None
) -> Execution:
    """Add or replace labels of an execution (``system.*`` labels are Trellis's own)."""
    check(actor, execution.namespace, Action.EXECUTE)
    reserved = sorted(k for k in labels if k.startswith("system."))
    if reserved:
        raise ExecutionError(f"system labels cannot be set by hand: {', '.join(reserved)}")
    with transaction.atomic():
        locked = lock_row(execution)
        locked.labels = {**(locked.labels or {}), **{k: str(v) for k, v in labels.items()}}
        save_written(locked)
        sync_label_rows(locked)
    return locked


#: Final states an ended execution may be given by hand (Kestra's change-status).


CHANGEABLE_EXECUTION_STATES = (State.SUCCESS, State.WARNING, State.FAILED)


def execution_change_status(
    execution: Execution, state: State | str, *, actor: Any = None
) -> Execution:
    """Give an ended execution another final state (SUCCESS, WARNING or FAILED), as Kestra's
    change-status: a user's verdict on the whole execution; its task runs stay as they were.

    A killed or cancelled execution stays so (Kestra refuses those too); nothing is
    re-evaluated, so no task runs.
    """
    check(actor, execution.namespace, Action.EXECUTE)
    try:
        target = State(str(state).upper())
    except ValueError:
        raise ExecutionError(f"unknown state {state!r}") from None
    if target not in CHANGEABLE_EXECUTION_STATES:
        allowed = ", ".join(CHANGEABLE_EXECUTION_STATES)
        raise ExecutionError(f"an execution's state can be changed to {allowed}, not {target}")
    with transaction.atomic():
        locked = lock_row(execution)
        current = State(locked.state)
        if current not in CHANGEABLE_EXECUTION_STATES:
            raise ExecutionError(
                f"execution {locked.id} is {current}: only a SUCCESS, WARNING or FAILED "
                "execution can change its state"
            )
        if current == target:
            return locked
        set_execution_state(locked, target, now(), via="change-status")
        save_written(locked)
    return locked

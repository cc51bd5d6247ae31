"""What the execution use cases share: the locked row, the written state, a task run moved."""

from __future__ import annotations

from executions.models import Execution, TaskRun
from executions.runtime.persistence import history_entry
from kernel.clock import now
from kernel.states import TERMINAL, State, check_transition


def lock_row(execution: Execution) -> Execution:
    return Execution.objects.select_for_update().get(pk=execution.pk)


def save_written(locked: Execution) -> None:
    """Save an execution a service changed (row locked): a new ``version`` for readers, and
    ``settled_version`` with it, since a service may rewrite ended task runs, so every
    executor process's remembered runs are stale (``executions/runtime/snapshot_cache.py``)."""
    locked.version += 1
    locked.settled_version = locked.version
    locked.save()


def move_run(run: TaskRun, *states: State, outputs: dict | None = None) -> None:
    moment = now()
    for state in states:
        check_transition(State(run.state), state, f"task run {run.task_id}")
        run.state = state
        run.state_history = [*run.state_history, history_entry(state, moment)]
    if outputs is not None:
        run.outputs = {**(run.outputs or {}), **outputs}
    run.ended_at = moment if run.state in TERMINAL else None
    run.save()

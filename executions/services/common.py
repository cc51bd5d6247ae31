"""What the execution use cases share: the locked row, the written state, a task run moved."""

from __future__ import annotations

from executions.models import Execution, TaskRun
from executions.runtime.states import set_task_run_state
from kernel.clock import now
from kernel.states import State


def lock_row(execution: Execution) -> Execution:
    return Execution.objects.select_for_update().get(pk=execution.pk)


def save_written(locked: Execution) -> None:
    """Save an execution a service changed (row locked): a new ``version`` for readers, and
    ``settled_version`` with it, since a service may rewrite ended task runs, so every
    executor process's remembered runs are stale (``executions/runtime/snapshot_cache.py``)."""
    locked.version += 1
    locked.settled_version = locked.version
    locked.save()


def move_run(
    run: TaskRun, *states: State, outputs: dict | None = None, via: str | None = None
) -> None:
    """Move a task run through ``states`` (checked, ``via`` the user's action) and save it."""
    moment = now()
    for state in states:
        set_task_run_state(run, state, moment, via=via)
    if outputs is not None:
        run.outputs = {**(run.outputs or {}), **outputs}
    run.save()

"""Pausing an execution and resuming a paused one (with its ``onResume`` inputs)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.db import transaction

from access.policy import Action, check
from executions.errors import ExecutionError
from executions.models import Execution, TaskRun
from executions.runtime.dispatch import wake_executor
from executions.runtime.loading import execution_flow_spec
from executions.runtime.states import set_execution_state
from executions.services.common import lock_row, move_run, save_written
from executions.services.create import store_file
from kernel.clock import now
from kernel.inputs import coerce_inputs
from kernel.spec.model import InputSpec
from kernel.states import State
from orchestrator.storage import default_storage


def _store_resume_files(execution: Execution) -> tuple[Callable[[str, Any], str], dict[str, str]]:
    """``(store, stored)``: ``store`` keeps each uploaded file of a resume once, where
    :func:`execution_create` keeps FILE inputs (every paused run is answered from the same
    uploads); ``stored`` maps input ids to the URIs written, for clean-up on refusal."""
    store = store_file(execution.namespace, execution.flow_id, execution.id)
    stored: dict[str, str] = {}

    def once(input_id: str, upload: Any) -> str:
        if input_id not in stored:
            stored[input_id] = store(input_id, upload)
        return stored[input_id]

    return once, stored


def execution_resume(
    execution: Execution,
    inputs: Mapping[str, Any] | None = None,
    *,
    files: Mapping[str, Any] | None = None,
    actor: Any = None,
) -> Execution:
    """Resume a PAUSED execution; ``inputs`` (and uploaded ``files``, by input id) answer the
    Pause's ``onResume`` declarations.

    Bad inputs raise InputsError and change nothing: files already stored are deleted again.
    """
    check(actor, execution.namespace, Action.EXECUTE)
    store, stored = _store_resume_files(execution)
    try:
        return _resume(execution, inputs, files, store)
    except Exception:
        for uri in stored.values():
            default_storage().delete(uri)
        raise


def _resume(
    execution: Execution,
    inputs: Mapping[str, Any] | None,
    files: Mapping[str, Any] | None,
    store: Callable[[str, Any], str],
) -> Execution:
    """The body of :func:`execution_resume` (its caller cleans up the stored files)."""

    with transaction.atomic():
        locked = lock_row(execution)
        if locked.state != State.PAUSED:
            raise ExecutionError(f"execution {locked.id} is {locked.state}, not PAUSED")
        spec = execution_flow_spec(locked)
        tasks = {t.id: t for g in (spec.tasks, spec.errors, spec.finally_) for r in g
                 for t in r.walk()}  # fmt: skip
        paused = list(TaskRun.objects.filter(execution=locked, state=State.PAUSED))
        answers: dict[str, dict] = {}
        for run in paused:
            declared = (
                (tasks.get(run.task_id).properties.get("onResume") or [])
                if run.task_id in tasks
                else []
            )
            specs = [
                InputSpec(
                    d["id"],
                    d.get("type", "STRING"),
                    {k: v for k, v in d.items() if k not in ("id", "type")},
                )
                for d in declared
            ]
            answers[run.id] = (
                coerce_inputs(specs, dict(inputs or {}), files=files, store_file=store)
                if specs
                else {}
            )
        for run in paused:
            move_run(
                run,
                State.RUNNING,
                outputs={"onResume": answers[run.id]} if answers[run.id] else None,
            )
            run.due_at = None
            run.save(update_fields=["due_at"])
        set_execution_state(locked, State.RUNNING, now())
        locked.held = False
        save_written(locked)
        wake_executor(locked.id)
    return locked


#: States an execution restarts from.


def execution_pause(execution: Execution, *, actor: Any = None) -> Execution:
    """Hold a RUNNING execution (Kestra's pause action): it is PAUSED at once, task runs
    already on a worker finish and record their results, and nothing new starts (no task,
    no retry, no timer) until it is resumed (``execution_resume``, force-run) or killed."""
    check(actor, execution.namespace, Action.EXECUTE)
    with transaction.atomic():
        locked = lock_row(execution)
        if locked.state != State.RUNNING:
            raise ExecutionError(
                f"execution {locked.id} is {locked.state}: only a RUNNING execution can be paused"
            )
        set_execution_state(locked, State.PAUSED, now())
        locked.held = True
        save_written(locked)
    return locked

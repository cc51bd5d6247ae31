"""Use cases on executions: create (run a flow), kill, wait. Adapters (API, admin, CLI,
triggers) call these; none of them writes run state itself."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db import transaction

from executions.dispatch import now, wake_executor
from executions.inputs import InputsError, coerce_inputs
from executions.models import Execution, new_id
from executions.persistence import history_entry, set_execution_state, sync_label_rows
from executions.states import TERMINAL, State
from flows.models import Flow
from flows.selectors import flow_spec

__all__ = ["ExecutionError", "InputsError", "execution_create", "execution_kill", "execution_wait"]


class ExecutionError(ValueError):
    """The request cannot start or change an execution (disabled flow, bad revision...)."""


def _store_file(namespace: str, flow_id: str, execution_id: str):  # noqa: ANN202
    def store(input_id: str, upload: Any) -> str:
        from executions.storage import default_storage

        name = getattr(upload, "name", None) or input_id
        data = upload.read() if hasattr(upload, "read") else upload
        if isinstance(data, str):
            data = data.encode()
        return default_storage().put_input(
            namespace, flow_id, execution_id, input_id, str(name).rsplit("/", 1)[-1], data
        )

    return store


def execution_create(
    *,
    flow: Flow,
    inputs: Mapping[str, Any] | None = None,
    files: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
    revision: int | None = None,
    trigger: Mapping[str, Any] | None = None,
    parent: tuple[Execution, str] | None = None,
    scheduled_at: datetime | None = None,
) -> Execution:
    """A new CREATED execution of ``flow`` (its current revision unless ``revision``).

    Inputs are typed and checked first: bad input raises InputsError and creates nothing.
    The executor is woken once the row is committed.
    """
    if flow.deleted:
        raise ExecutionError(f"flow {flow} is deleted")
    if flow.disabled and trigger is None:
        raise ExecutionError(f"flow {flow} is disabled")
    if revision is not None and not flow.revisions.filter(revision=revision).exists():
        raise ExecutionError(f"flow {flow} has no revision {revision}")
    spec = flow_spec(flow, revision=revision)
    execution_id = new_id()
    typed = coerce_inputs(
        spec.inputs,
        dict(inputs or {}),
        files=files,
        store_file=_store_file(spec.namespace, spec.id, execution_id),
    )
    moment = now()
    merged = {**spec.labels, **{k: str(v) for k, v in (labels or {}).items()}}
    with transaction.atomic():
        execution = Execution.objects.create(
            id=execution_id,
            namespace=spec.namespace,
            flow_id=spec.id,
            flow_revision=revision or flow.revision,
            state=State.CREATED,
            state_history=[history_entry(State.CREATED, moment)],
            inputs=typed,
            labels=merged,
            variables=dict(spec.variables),
            trigger=dict(trigger) if trigger else None,
            parent_execution=parent[0] if parent else None,
            parent_task_run_id=parent[1] if parent else None,
            due_at=scheduled_at,
        )
        sync_label_rows(execution)
        if scheduled_at is None or scheduled_at <= moment:
            wake_executor(execution.id)
    return execution


def execution_kill(execution: Execution) -> Execution:
    """Ask a running execution to stop: KILLING now, KILLED once everything has stopped."""
    with transaction.atomic():
        locked = Execution.objects.select_for_update().get(pk=execution.pk)
        if locked.state in TERMINAL or locked.state == State.KILLING:
            return locked
        set_execution_state(locked, State.KILLING, now())
        locked.version += 1
        locked.save()
        wake_executor(locked.id)
    return locked


def execution_wait(execution_id: str, timeout: float = 60.0, poll: float = 0.1) -> Execution:
    """Block until the execution is terminal (or ``timeout`` seconds pass); returns it."""
    deadline = time.monotonic() + timeout
    while True:
        execution = Execution.objects.get(pk=execution_id)
        if execution.state in TERMINAL or time.monotonic() >= deadline:
            return execution
        time.sleep(poll)

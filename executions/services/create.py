"""Running a flow, killing an execution, waiting for one to end."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db import transaction

from access.policy import Action, check
from executions.errors import ExecutionError
from executions.models import Execution, new_id
from executions.runtime.children import CORRELATION_LABEL
from executions.runtime.dispatch import wake_executor
from executions.runtime.persistence import sync_label_rows
from executions.runtime.states import history_entry, set_execution_state
from executions.services.common import save_written
from flows.models import Flow
from flows.selectors import flow_spec
from kernel.clock import now
from kernel.inputs import coerce_inputs
from kernel.states import TERMINAL, State
from kernel.taint import seal, shown_form
from orchestrator.storage import default_storage


def store_file(namespace: str, flow_id: str, execution_id: str):  # noqa: ANN202
    def store(input_id: str, upload: Any) -> str:
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
    validate_inputs: bool = True,
    actor: Any = None,
) -> Execution:
    """A new CREATED execution of ``flow`` (its current revision unless ``revision``).

    Inputs are typed and checked first: bad input raises InputsError and creates nothing
    (``validate_inputs=False`` stores them as given, for trusted callers).
    The executor is woken once the row is committed.
    """
    check(actor, flow.namespace.name, Action.EXECUTE)
    if flow.deleted:
        raise ExecutionError(f"flow {flow} is deleted")
    if flow.disabled and trigger is None:
        raise ExecutionError(f"flow {flow} is disabled")
    if revision is not None and not flow.revisions.filter(revision=revision).exists():
        raise ExecutionError(f"flow {flow} has no revision {revision}")
    spec = flow_spec(flow, revision=revision)
    execution_id = new_id()
    if validate_inputs:
        try:
            typed = coerce_inputs(
                spec.inputs,
                dict(inputs or {}),
                files=files,
                store_file=store_file(spec.namespace, spec.id, execution_id),
            )
        except Exception:
            # Bad input changes nothing: drop files stored for the inputs before it (issue 9).
            from orchestrator.storage import default_storage

            default_storage().delete_execution(spec.namespace, spec.id, execution_id)
            raise
    else:  # trusted callers (the Kestra compatibility runner's "raw" inputs, triggers)
        typed = seal(dict(inputs or {}))  # what came from a secret stays sealed (issue 21)
    moment = now()
    # A label is shown everywhere: one set from a secret is stored masked (issue 21).
    merged = {**spec.labels, **{k: str(v) for k, v in shown_form(dict(labels or {})).items()}}
    # Kestra's system label tying an execution to the chain it belongs to (subflows pass
    # theirs down through labels).
    merged.setdefault(CORRELATION_LABEL, execution_id)
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
            trigger=seal(dict(trigger)) if trigger else None,  # a Flow trigger's outputs
            parent_execution=parent[0] if parent else None,
            parent_task_run_id=parent[1] if parent else None,
            due_at=scheduled_at,
        )
        sync_label_rows(execution, new=True)
        if scheduled_at is None or scheduled_at <= moment:
            wake_executor(execution.id)
    return execution


def execution_kill(execution: Execution, *, actor: Any = None) -> Execution:
    """Ask a running execution to stop: KILLING now, KILLED once everything has stopped."""
    check(actor, execution.namespace, Action.EXECUTE)
    with transaction.atomic():
        locked = Execution.objects.select_for_update().get(pk=execution.pk)
        if locked.state in TERMINAL or locked.state == State.KILLING:
            return locked
        set_execution_state(locked, State.KILLING, now())
        locked.held = False
        save_written(locked)
        wake_executor(locked.id)
        for child in Execution.objects.filter(parent_execution=locked):
            execution_kill(child)
    return locked


def execution_wait(execution_id: str, timeout: float = 60.0, poll: float = 0.1) -> Execution:
    """Block until the execution is terminal (or ``timeout`` seconds pass); returns it."""
    deadline = time.monotonic() + timeout
    while True:
        execution = Execution.objects.get(pk=execution_id)
        if execution.state in TERMINAL or time.monotonic() >= deadline:
            return execution
        time.sleep(poll)

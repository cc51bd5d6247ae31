"""Use cases the execution API needs that ``executions.services`` does not offer yet.

Kept here, next to their callers, until they move into ``executions.services`` (whose owner
may take them as they are): deleting a finished execution, and the per-id reports of the
``by-ids`` bulk actions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from access.policy import AccessDenied, Action, access_for, check
from executions import services
from executions.models import Execution
from kernel.states import TERMINAL, IllegalTransition
from orchestrator.storage import default_storage

#: What a service raises when it refuses an action; a bulk action reports it for that id.
REFUSED = (services.ExecutionError, services.InputsError, IllegalTransition, AccessDenied)


class NotFinished(ValueError):
    """The execution is still active: kill it (and wait) before deleting it."""


def execution_delete(execution: Execution, *, actor: Any = None) -> None:
    """Delete a finished execution with its task runs, logs and stored files.

    Only a terminal execution goes: deleting a live one would pull the rows from under the
    executor and its workers. Files are removed once the rows are gone for good (on commit),
    so a rolled-back delete never loses them. ``actor`` needs execute access.
    """
    check(actor, execution.namespace, Action.EXECUTE)
    with transaction.atomic():
        locked = Execution.objects.select_for_update().filter(pk=execution.pk).first()
        if locked is None:
            return
        if locked.state not in TERMINAL:
            raise NotFinished(
                f"execution {locked.id} is {locked.state}; only a finished one is deleted"
            )
        namespace, flow_id, execution_id = locked.namespace, locked.flow_id, locked.id
        locked.delete()
        transaction.on_commit(
            lambda: default_storage().delete_execution(namespace, flow_id, execution_id)
        )


@dataclass(frozen=True)
class ItemResult:
    id: str
    ok: bool
    message: str

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "ok": self.ok, "message": self.message}


#: One action on one execution: returns what happened, raises one of REFUSED to refuse.
Act = Callable[[Execution], str]


def executions_each(ids: Sequence[str], act: Act, *, actor: Any = None) -> list[ItemResult]:
    """Apply ``act`` to each execution named, each in its own transaction, and report per id.

    A missing execution, one the actor may not act on, and one the service refuses are
    reported (``ok: false``) and do not stop the others. The services check access again.
    """
    unique = list(dict.fromkeys(ids))
    found = Execution.objects.in_bulk(unique)
    access = access_for(actor)
    results = []
    for execution_id in unique:
        execution = found.get(execution_id)
        if execution is None:
            results.append(ItemResult(execution_id, False, "does not exist"))
            continue
        if not access.allows(execution.namespace, Action.EXECUTE):
            denied = AccessDenied(execution.namespace, Action.EXECUTE)
            results.append(ItemResult(execution_id, False, str(denied)))
            continue
        try:
            message = act(execution)
        except REFUSED as exc:
            results.append(ItemResult(execution_id, False, str(exc)))
        except NotFinished as exc:
            results.append(ItemResult(execution_id, False, str(exc)))
        else:
            results.append(ItemResult(execution_id, True, message))
    return results


def executions_kill(ids: Sequence[str], *, actor: Any = None) -> list[ItemResult]:
    """Kill each execution named; one that is missing or already finished is reported."""

    def kill(execution: Execution) -> str:
        if execution.state in TERMINAL:
            raise services.ExecutionError(f"already {execution.state}")
        killed = services.execution_kill(execution, actor=actor)
        if killed.state in TERMINAL:  # it ended meanwhile
            raise services.ExecutionError(f"already {killed.state}")
        return str(killed.state)

    return executions_each(ids, kill, actor=actor)


def executions_delete(ids: Sequence[str], *, actor: Any = None) -> list[ItemResult]:
    """Delete each finished execution named; a missing or active one is reported."""

    def delete(execution: Execution) -> str:
        execution_delete(execution, actor=actor)
        return "deleted"

    return executions_each(ids, delete, actor=actor)


def executions_restart(ids: Sequence[str], *, actor: Any = None) -> list[ItemResult]:
    return executions_each(
        ids, lambda e: str(services.execution_restart(e, actor=actor).state), actor=actor
    )


def executions_replay(ids: Sequence[str], *, actor: Any = None) -> list[ItemResult]:
    """A new execution from the start of each one named; the message names the new id."""
    return executions_each(
        ids, lambda e: f"replayed as {services.execution_replay(e, actor=actor).id}", actor=actor
    )


def executions_resume(ids: Sequence[str], *, actor: Any = None) -> list[ItemResult]:
    """Resume each PAUSED execution named (without onResume inputs)."""
    return executions_each(
        ids, lambda e: str(services.execution_resume(e, actor=actor).state), actor=actor
    )


def executions_pause(ids: Sequence[str], *, actor: Any = None) -> list[ItemResult]:
    """Pause each RUNNING execution named."""
    return executions_each(
        ids, lambda e: str(services.execution_pause(e, actor=actor).state), actor=actor
    )


def executions_force_run(ids: Sequence[str], *, actor: Any = None) -> list[ItemResult]:
    return executions_each(
        ids, lambda e: str(services.execution_force_run(e, actor=actor).state), actor=actor
    )


def executions_unqueue(ids: Sequence[str], state: str, *, actor: Any = None) -> list[ItemResult]:
    return executions_each(
        ids, lambda e: str(services.execution_unqueue(e, state, actor=actor).state), actor=actor
    )


def executions_change_status(
    ids: Sequence[str], state: str, *, actor: Any = None
) -> list[ItemResult]:
    return executions_each(
        ids,
        lambda e: str(services.execution_change_status(e, state, actor=actor).state),
        actor=actor,
    )


def executions_set_labels(
    ids: Sequence[str], labels: Mapping[str, str], *, actor: Any = None
) -> list[ItemResult]:
    def set_labels(execution: Execution) -> str:
        services.execution_set_labels(execution, labels, actor=actor)
        return "labels set"

    return executions_each(ids, set_labels, actor=actor)

"""Use cases the execution API needs that ``executions.services`` does not offer yet.

Kept here, next to their only caller, until they move into ``executions.services`` (whose
owner may take them as they are): deleting a finished execution, and the per-id reports of
the ``by-ids`` bulk actions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.db import transaction

from executions.models import Execution
from executions.services import execution_kill
from executions.states import TERMINAL
from executions.storage import default_storage


class NotFinished(ValueError):
    """The execution is still active: kill it (and wait) before deleting it."""


def execution_delete(execution: Execution) -> None:
    """Delete a finished execution with its task runs, logs and stored files.

    Only a terminal execution goes: deleting a live one would pull the rows from under the
    executor and its workers. Files are removed once the rows are gone for good (on commit),
    so a rolled-back delete never loses them.
    """
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


def _each(ids: Sequence[str], act: Callable[[Execution], ItemResult]) -> list[ItemResult]:
    found = Execution.objects.in_bulk(list(dict.fromkeys(ids)))
    results = []
    for execution_id in dict.fromkeys(ids):
        execution = found.get(execution_id)
        if execution is None:
            results.append(ItemResult(execution_id, False, "does not exist"))
        else:
            results.append(act(execution))
    return results


def executions_kill(ids: Sequence[str]) -> list[ItemResult]:
    """Kill each execution named; one that is missing or already finished is reported."""

    def kill(execution: Execution) -> ItemResult:
        if execution.state in TERMINAL:
            return ItemResult(execution.id, False, f"already {execution.state}")
        killed = execution_kill(execution)
        if killed.state in TERMINAL:  # it ended meanwhile
            return ItemResult(execution.id, False, f"already {killed.state}")
        return ItemResult(execution.id, True, str(killed.state))

    return _each(ids, kill)


def executions_delete(ids: Sequence[str]) -> list[ItemResult]:
    """Delete each finished execution named; a missing or active one is reported."""

    def delete(execution: Execution) -> ItemResult:
        try:
            execution_delete(execution)
        except NotFinished as exc:
            return ItemResult(execution.id, False, str(exc))
        return ItemResult(execution.id, True, "deleted")

    return _each(ids, delete)

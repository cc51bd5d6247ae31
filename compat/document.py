"""An execution as Kestra's tests see it: the plain dict ``assertions.py`` evaluates.

Kestra's Java tests assert on its ``Execution`` object (``taskRunList``, ``state.histories``,
``attempts``, labels as ``{key, value}`` pairs...), so the corpus paths are written against
that shape. ``build_document`` converts row dicts (pure, tested without a database);
``kestra_document`` reads the rows of one execution and its log lines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from executions.models import Execution, LogEntry, TaskRun, TaskRunAttempt
from kernel.taint import reveal


def _iso(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat().replace("+00:00", "Z")
    return value


def _state(current: Any, histories: Sequence[Mapping[str, Any]] | None) -> dict[str, Any]:
    return {
        "current": str(current),
        "histories": [{"state": h.get("state"), "date": h.get("date")} for h in histories or []],
    }


def _attempt_state(row: Mapping[str, Any]) -> dict[str, Any]:
    """Attempt rows keep no history: rebuild the one Kestra would show from the timestamps."""
    histories = []
    if row.get("started_at") is not None:
        histories.append({"state": "RUNNING", "date": _iso(row["started_at"])})
    if row.get("ended_at") is not None:
        histories.append({"state": str(row["state"]), "date": _iso(row["ended_at"])})
    return _state(row["state"], histories)


def _labels(labels: Any) -> list[dict[str, str]]:
    """Kestra keeps labels as an ordered list of pairs; Trellis as a dict in the same order."""
    if isinstance(labels, Mapping):
        return [{"key": str(k), "value": "" if v is None else str(v)} for k, v in labels.items()]
    return [dict(x) for x in labels or []]


def build_document(
    execution: Mapping[str, Any],
    task_runs: Sequence[Mapping[str, Any]],
    attempts: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> dict[str, Any]:
    """The Kestra-shaped execution from row dicts (model field names).

    ``task_runs`` come in creation order; ``attempts`` maps a task-run id to its attempt rows
    (by number). As in Kestra, a task run never sent to a worker has ``attempts: None`` and
    empty outputs are ``None`` (the corpus asserts both with ``is_null``).
    """
    attempts = attempts or {}
    runs = [
        {
            "id": run["id"],
            "executionId": execution["id"],
            "taskId": run["task_id"],
            "parentTaskRunId": run.get("parent_id"),
            "value": reveal(run.get("value")),
            "iteration": run.get("iteration"),
            "state": _state(run["state"], run.get("state_history")),
            "attempts": [
                {"state": _attempt_state(a), "startDate": _iso(a.get("started_at"))}
                for a in attempts.get(run["id"]) or ()
            ]
            or None,
            "outputs": reveal(run.get("outputs")) or None,
        }
        for run in task_runs
    ]
    return {
        "id": execution["id"],
        "namespace": execution.get("namespace"),
        "flowId": execution.get("flow_id"),
        "flowRevision": execution.get("flow_revision"),
        "state": _state(execution["state"], execution.get("state_history")),
        "inputs": execution.get("inputs"),
        "outputs": reveal(execution.get("outputs")) or None,
        "labels": _labels(execution.get("labels")),
        "trigger": execution.get("trigger"),
        "parentId": execution.get("replayed_from") or execution.get("parent_execution_id"),
        "originalId": execution.get("original_id"),
        "scheduleDate": _iso(execution.get("due_at")),
        "taskRunList": runs,
    }


_EXECUTION_FIELDS = (
    "id", "namespace", "flow_id", "flow_revision", "state", "state_history", "inputs",
    "outputs", "labels", "trigger", "parent_execution_id", "original_id", "replayed_from", "due_at",
)  # fmt: skip
_RUN_FIELDS = (
    "id", "task_id", "parent_id", "value", "iteration", "state", "state_history", "outputs",
)  # fmt: skip


def execution_document(execution_id: str) -> dict[str, Any]:
    """The document of one execution, read fresh from the database."""

    row = Execution.objects.filter(pk=execution_id).values(*_EXECUTION_FIELDS).get()
    runs = TaskRun.objects.filter(execution_id=execution_id).order_by("seq").values(*_RUN_FIELDS)
    attempts: dict[str, list[dict[str, Any]]] = {}
    for attempt in (
        TaskRunAttempt.objects.filter(execution_id=execution_id)
        .order_by("number")
        .values("task_run_id", "number", "state", "started_at", "ended_at")
    ):
        attempts.setdefault(attempt["task_run_id"], []).append(attempt)
    return build_document(row, list(runs), attempts)


def execution_logs(execution_id: str) -> list[dict[str, Any]]:
    """The execution's log lines as ``check_logs`` reads them, oldest first."""

    rows = (
        LogEntry.objects.filter(execution_id=execution_id)
        .order_by("timestamp", "id")
        .values("task_run_id", "task_id", "level", "message", "timestamp")
    )
    return [
        {"taskRunId": r["task_run_id"], "taskId": r["task_id"], "level": r["level"],
         "message": r["message"], "timestamp": _iso(r["timestamp"])}
        for r in rows
    ]  # fmt: skip


def kestra_document(execution: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(document, log lines) of an execution (model or id)."""
    execution_id = getattr(execution, "pk", execution)
    return execution_document(execution_id), execution_logs(execution_id)

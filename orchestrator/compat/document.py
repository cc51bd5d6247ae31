"""An execution as Kestra's tests see it: the plain dict ``assertions.py`` evaluates.

Kestra's Java tests assert on its ``Execution`` object (``taskRunList``, ``state.histories``,
``attempts``, labels as ``{key, value}`` pairs...). The corpus paths are written against that
shape, so the compatibility runner converts Trellis rows into it. ``build_document`` is pure
(tested on hand-made dicts); ``execution_document`` loads the rows. When the API's own
converter (``executions.api.documents``) exists it is preferred, so both agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any


def _iso(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat().replace("+00:00", "Z")
    return value


def _state(current: str, histories: Sequence[Mapping[str, Any]] | None) -> dict[str, Any]:
    return {
        "current": str(current),
        "histories": [{"state": h.get("state"), "date": h.get("date")} for h in histories or []],
    }


def _labels(labels: Any) -> list[dict[str, str]]:
    """Kestra keeps labels as an ordered list of pairs; Trellis as a dict (same order)."""
    if isinstance(labels, Mapping):
        return [{"key": str(k), "value": "" if v is None else str(v)} for k, v in labels.items()]
    return [dict(x) for x in labels or []]


def build_document(
    execution: Mapping[str, Any],
    task_runs: Sequence[Mapping[str, Any]],
    attempts: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> dict[str, Any]:
    """Kestra-shaped execution from row dicts (model field names).

    ``task_runs`` are in creation order; ``attempts`` maps a task-run id to its attempt rows.
    A task run never sent to a worker has ``attempts: None`` and empty outputs are ``None``,
    as in Kestra (the corpus asserts both with ``is_null``).
    """
    attempts = attempts or {}
    runs = []
    for run in task_runs:
        rows = attempts.get(run["id"]) or []
        runs.append(
            {
                "id": run["id"],
                "executionId": execution["id"],
                "taskId": run["task_id"],
                "parentTaskRunId": run.get("parent_id"),
                "value": run.get("value"),
                "iteration": run.get("iteration"),
                "state": _state(run["state"], run.get("state_history")),
                "attempts": [
                    {
                        "state": {"current": str(a["state"])},
                        "startDate": _iso(a.get("started_at")),
                        "endDate": _iso(a.get("ended_at")),
                    }
                    for a in rows
                ]
                or None,
                "outputs": run.get("outputs") or None,
            }
        )
    parent = execution.get("parent_execution_id") or execution.get("parent_id")
    return {
        "id": execution["id"],
        "namespace": execution.get("namespace"),
        "flowId": execution.get("flow_id"),
        "flowRevision": execution.get("flow_revision"),
        "state": _state(execution["state"], execution.get("state_history")),
        "inputs": execution.get("inputs"),
        "outputs": execution.get("outputs") or None,
        "labels": _labels(execution.get("labels")),
        "variables": execution.get("variables") or None,
        "trigger": execution.get("trigger"),
        "parentId": parent,
        "originalId": execution.get("original_id"),
        "scheduleDate": _iso(execution.get("due_at")),
        "taskRunList": runs,
    }


_EXECUTION_FIELDS = (
    "id", "namespace", "flow_id", "flow_revision", "state", "state_history", "inputs",
    "outputs", "labels", "variables", "trigger", "parent_execution_id", "original_id", "due_at",
)  # fmt: skip
_RUN_FIELDS = (
    "id", "task_id", "parent_id", "value", "iteration", "state", "state_history", "outputs",
)  # fmt: skip


def execution_document(execution_id: str) -> dict[str, Any]:
    """The Kestra-shaped document of one execution, read fresh from the database."""
    try:  # the API's converter, once it exists, is the reference shape
        from executions.api.documents import execution_document as api_document
    except ImportError:
        api_document = None
    from executions.models import Execution, TaskRun, TaskRunAttempt

    if api_document is not None:
        return api_document(Execution.objects.get(pk=execution_id))
    row = Execution.objects.filter(pk=execution_id).values(*_EXECUTION_FIELDS).get()
    runs = list(
        TaskRun.objects.filter(execution_id=execution_id).order_by("seq").values(*_RUN_FIELDS)
    )
    attempts: dict[str, list[dict[str, Any]]] = {}
    for attempt in (
        TaskRunAttempt.objects.filter(execution_id=execution_id)
        .order_by("task_run_id", "number")
        .values("task_run_id", "number", "state", "started_at", "ended_at")
    ):
        attempts.setdefault(attempt["task_run_id"], []).append(attempt)
    return build_document(row, runs, attempts)


def execution_logs(execution_id: str) -> list[dict[str, Any]]:
    """The execution's log lines as ``check_logs`` reads them (oldest first)."""
    from executions.models import LogEntry

    return [
        {"taskRunId": r["task_run_id"], "taskId": r["task_id"], "level": r["level"],
         "message": r["message"], "timestamp": _iso(r["timestamp"])}
        for r in LogEntry.objects.filter(execution_id=execution_id)
        .order_by("timestamp", "id")
        .values("task_run_id", "task_id", "level", "message", "timestamp")
    ]  # fmt: skip

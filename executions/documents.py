"""Executions as JSON documents, in the shape DESIGN.md gives the CLI (``--json``) and close to
Kestra's, so scripts can read either."""

from __future__ import annotations

from typing import Any

from executions.models import Execution, LogEntry, TaskRun, TaskRunAttempt
from kernel.secrets import shown, shown_inputs


def _iso(moment: Any) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def attempt_document(attempt: TaskRunAttempt) -> dict[str, Any]:
    return {
        "number": attempt.number,
        "state": attempt.state,
        "startDate": _iso(attempt.started_at),
        "endDate": _iso(attempt.ended_at),
        "workerId": attempt.owner or None,
        "note": attempt.note or None,
    }


def task_run_document(run: TaskRun, attempts: list[TaskRunAttempt]) -> dict[str, Any]:
    return {
        "id": run.id,
        "taskId": run.task_id,
        "parentTaskRunId": run.parent_id,
        "value": shown(run.value),
        "iteration": run.iteration,
        "state": run.state,
        "histories": run.state_history,
        "attempts": [attempt_document(a) for a in attempts],
        "outputs": shown(run.outputs),
        "startDate": _iso(run.started_at),
        "endDate": _iso(run.ended_at),
    }


def execution_json(execution: Execution, *, logs: bool = False) -> dict[str, Any]:
    """``id, namespace, flowId, flowRevision, state, inputs, outputs, labels, taskRuns[...]``
    (and ``logs`` when asked)."""
    runs = list(TaskRun.objects.filter(execution=execution).order_by("seq"))
    attempts: dict[str, list[TaskRunAttempt]] = {}
    for attempt in TaskRunAttempt.objects.filter(execution=execution).order_by("number"):
        attempts.setdefault(attempt.task_run_id, []).append(attempt)
    doc: dict[str, Any] = {
        "id": execution.id,
        "namespace": execution.namespace,
        "flowId": execution.flow_id,
        "flowRevision": execution.flow_revision,
        "state": execution.state,
        "histories": execution.state_history,
        "startDate": _iso(execution.started_at),
        "endDate": _iso(execution.ended_at),
        "inputs": shown_inputs(execution.inputs),
        "outputs": shown(execution.outputs),
        "labels": shown(execution.labels),
        "trigger": shown(execution.trigger),
        "parentId": execution.replayed_from or execution.parent_execution_id,
        "originalId": execution.original_id,
        "taskRuns": [task_run_document(r, attempts.get(r.id, [])) for r in runs],
    }
    if logs:
        doc["logs"] = [
            {"taskRunId": line.task_run_id, "taskId": line.task_id or None,
             "attempt": line.attempt, "level": line.level,
             "timestamp": _iso(line.timestamp), "message": line.message}
            for line in LogEntry.objects.filter(execution=execution).order_by("timestamp", "id")
        ]  # fmt: skip
    return doc

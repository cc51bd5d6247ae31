"""An execution as the Kestra-shaped document the corpus assertions read."""

from __future__ import annotations

from typing import Any

from executions.models import Execution, LogEntry, TaskRun, TaskRunAttempt


def _state(current: str, history: list[dict[str, Any]]) -> dict[str, Any]:
    return {"current": current, "histories": history}


def kestra_document(execution: Execution) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(execution document, log entries) for ``orchestrator.compat.assertions``."""
    attempts: dict[str, list[dict[str, Any]]] = {}
    for attempt in TaskRunAttempt.objects.filter(execution=execution).order_by("number"):
        attempts.setdefault(attempt.task_run_id, []).append({"state": _state(attempt.state, [])})
    runs = [
        {
            "id": run.id,
            "taskId": run.task_id,
            "parentTaskRunId": run.parent_id,
            "value": run.value,
            "iteration": run.iteration,
            "state": _state(run.state, run.state_history),
            "attempts": attempts.get(run.id),
            "outputs": run.outputs or {},
        }
        for run in TaskRun.objects.filter(execution=execution).order_by("seq")
    ]
    doc = {
        "id": execution.id,
        "namespace": execution.namespace,
        "flowId": execution.flow_id,
        "state": _state(execution.state, execution.state_history),
        "outputs": execution.outputs or None,
        "labels": [{"key": k, "value": v} for k, v in (execution.labels or {}).items()],
        "inputs": execution.inputs,
        "trigger": execution.trigger,
        "parentId": execution.parent_execution_id,
        "taskRunList": runs,
    }
    logs = [
        {"taskRunId": e.task_run_id, "level": e.level, "message": e.message}
        for e in LogEntry.objects.filter(execution=execution).order_by("timestamp", "id")
    ]
    return doc, logs

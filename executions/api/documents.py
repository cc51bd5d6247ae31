"""Executions, task runs and log lines as JSON documents in Kestra's API shape.

Plain functions over model instances, with no DRF in sight, so the API views, the admin and
the Kestra compatibility runner build the very same document. Kestra nests a state as
``{"current", "histories", "startDate", "endDate", "duration"}`` and lists labels as
``[{"key", "value"}]``; clients written for Kestra read these fields by those names.

Related rows are read through ``execution.task_runs.all()`` and ``run.attempt_rows.all()`` so
a caller serialising many executions can ``prefetch_related`` them (see
:data:`EXECUTION_PREFETCH`) instead of paying queries per execution.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from executions.models import Execution, LogEntry, TaskRun, TaskRunAttempt
from kernel.durations import format_duration
from kernel.secrets import shown, shown_inputs
from kernel.states import TERMINAL, State

#: What to prefetch before calling :func:`execution_document` on many executions.
EXECUTION_PREFETCH = ("task_runs", "task_runs__attempt_rows")


def iso(moment: datetime | None) -> str | None:
    """``2024-07-12T05:07:28.447110Z``: UTC with a ``Z``, as Kestra writes instants."""
    if moment is None:
        return None
    return moment.isoformat().replace("+00:00", "Z")


def _history_date(entry: Mapping[str, Any]) -> datetime | None:
    raw = entry.get("date")
    return parse_datetime(raw) if isinstance(raw, str) else None


def state_document(
    current: str,
    histories: Iterable[Mapping[str, Any]],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, Any]:
    """Kestra's ``State``: the current state, its history, and the time it has taken.

    ``startDate`` is the first history entry (creation, as in Kestra) unless given; the
    duration runs to ``endDate`` once terminal, else to now (a live, growing duration).
    """
    entries = [dict(h) for h in histories or ()]
    if start is None and entries:
        start = _history_date(entries[0])
    if end is None and State(current) in TERMINAL and entries:
        end = _history_date(entries[-1])
    if State(current) not in TERMINAL:
        end = None
    duration = None
    if start is not None:
        duration = format_duration((end or timezone.now()) - start)
    return {
        "current": str(current),
        "histories": entries,
        "startDate": iso(start),
        "endDate": iso(end),
        "duration": duration,
        # the same three under the names Kestra's published schema also gives them (its
        # clients' models require them)
        "getStartDate": iso(start),
        "getEndDate": iso(end),
        "getDuration": duration,
    }


def labels_document(labels: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """``{"team": "data"}`` -> ``[{"key": "team", "value": "data"}]`` (sorted by key)."""
    return [
        {"key": str(k), "value": "" if v is None else str(v)}
        for k, v in sorted((labels or {}).items())
    ]


def attempt_document(attempt: TaskRunAttempt) -> dict[str, Any]:
    """One attempt. Attempt rows keep timestamps rather than a history, so the history is
    rebuilt from them: created (QUEUED), started (RUNNING), ended (the final state)."""
    histories = [{"state": str(State.QUEUED), "date": iso(attempt.created_at)}]
    if attempt.started_at is not None:
        histories.append({"state": str(State.RUNNING), "date": iso(attempt.started_at)})
    if attempt.ended_at is not None and attempt.state not in (State.QUEUED, State.RUNNING):
        histories.append({"state": str(attempt.state), "date": iso(attempt.ended_at)})
    return {
        "number": attempt.number,
        "state": state_document(
            attempt.state, histories, start=attempt.created_at, end=attempt.ended_at
        ),
        "startDate": iso(attempt.started_at),
        "endDate": iso(attempt.ended_at),
        "workerId": attempt.owner or None,
    }


def task_run_document(run: TaskRun, execution: Execution) -> dict[str, Any]:
    return {
        "id": run.id,
        "executionId": execution.id,
        "namespace": execution.namespace,
        "flowId": execution.flow_id,
        "parentTaskRunId": run.parent_id,
        "taskId": run.task_id,
        "value": shown(run.value),
        "iteration": run.iteration,
        "state": state_document(run.state, run.state_history, end=run.ended_at),
        "attempts": [attempt_document(a) for a in run.attempt_rows.all()],
        "outputs": shown(run.outputs or {}),
    }


def execution_document(execution: Execution) -> dict[str, Any]:
    """The execution as Kestra's API returns it (``GET /api/v1/executions/{id}``)."""
    return {
        "id": execution.id,
        "namespace": execution.namespace,
        "flowId": execution.flow_id,
        "flowRevision": execution.flow_revision,
        "state": state_document(
            execution.state,
            execution.state_history,
            start=None if execution.state_history else execution.created_at,
            end=execution.ended_at,
        ),
        "inputs": shown_inputs(execution.inputs or {}),
        "outputs": shown(execution.outputs or {}),
        "labels": labels_document(shown(execution.labels)),
        "trigger": shown(execution.trigger) or None,
        "parentId": execution.replayed_from or execution.parent_execution_id,
        "originalId": execution.original_id or execution.id,
        "taskRunList": [task_run_document(r, execution) for r in execution.task_runs.all()],
        "deleted": False,  # a deleted execution is gone, never served
        "metadata": {"attemptNumber": 1, "originalCreatedDate": iso(execution.created_at)},
    }


def log_document(line: LogEntry) -> dict[str, Any]:
    """One log line as Kestra's ``LogEntry``; the execution must be select_related."""
    execution = line.execution
    return {
        "namespace": execution.namespace,
        "flowId": execution.flow_id,
        "executionId": execution.id,
        "taskId": line.task_id or None,
        "taskRunId": line.task_run_id,
        "attemptNumber": line.attempt,
        "timestamp": iso(line.timestamp),
        "level": line.level,
        "message": line.message,
    }


def log_text_line(line: LogEntry) -> str:
    """``2024-07-12T05:07:28Z INFO [task] message``: one line of a log download."""
    task = f" [{line.task_id}]" if line.task_id else ""
    return f"{iso(line.timestamp)} {line.level}{task} {line.message}"

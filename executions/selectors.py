"""Reads about executions that several views share."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce

from executions.models import Execution, LogEntry, TaskRun, TaskRunAttempt
from kernel.engine.context import iso


def execution_stamp(execution_id: str) -> tuple[tuple[int, int], str] | None:
    """``((version, worker marks), state)`` of the execution, in one query; None if gone.

    ``version`` moves with every write by the executor and the services, but a worker's
    claim (task run RUNNING) and record (its result) write only the task run and the
    attempt, never the execution row. Those set an attempt's ``started_at`` and
    ``ended_at`` once each, so the count of both marks grows with every worker change; it
    is counted on the attempts' execution index. The API's follow stream and the admin's
    live panels both watch it.
    """
    marks = (
        TaskRunAttempt.objects.filter(execution_id=OuterRef("pk"))
        .order_by()  # the model's ordering would split the group
        .values("execution_id")
        .annotate(n=Count("started_at") + Count("ended_at"))
        .values("n")
    )
    row = (
        Execution.objects.filter(pk=execution_id)
        .annotate(marks=Coalesce(Subquery(marks), 0))
        .values_list("version", "marks", "state")
        .first()
    )
    if row is None:
        return None
    version, worker_marks, state = row
    return (version, worker_marks), state


def execution_problem(execution: Execution) -> str | None:
    """The latest warning or error about the execution as a whole (not one of its task runs),
    e.g. why its flow could not be loaded: what ``execution show`` prints as its problem."""
    return (
        LogEntry.objects.filter(
            execution=execution, task_run_id__isnull=True, level__in=["ERROR", "WARN"]
        )
        .order_by("-timestamp", "-id")
        .values_list("message", flat=True)
        .first()
    )


def execution_summary(execution_id: str) -> dict[str, Any] | None:
    """An execution as plain data, shaped like Kestra's execution JSON (``flowId``,
    ``state.current``, ``taskRunList``): what a notification reports about a run (issue 17).
    Inputs, outputs and variables are left out: a message needs none of them and they may
    hold secrets. None when there is no such execution."""
    row = (
        Execution.objects.filter(pk=execution_id)
        .values(
            "id",
            "namespace",
            "flow_id",
            "flow_revision",
            "state",
            "labels",
            "started_at",
            "ended_at",
            "created_at",
        )
        .first()
    )
    if row is None:
        return None
    runs = (
        TaskRun.objects.filter(execution_id=execution_id)
        .order_by("seq")
        .values("id", "task_id", "parent_id", "value", "state", "started_at", "ended_at")
    )
    return {
        "id": row["id"],
        "namespace": row["namespace"],
        "flowId": row["flow_id"],
        "flowRevision": row["flow_revision"],
        "state": {
            "current": str(row["state"]),
            "startDate": iso(row["started_at"] or row["created_at"]),
            "endDate": iso(row["ended_at"]),
        },
        "labels": [{"key": k, "value": v} for k, v in (row["labels"] or {}).items()],
        "taskRunList": [
            {
                "id": run["id"],
                "taskId": run["task_id"],
                "parentTaskRunId": run["parent_id"],
                "value": run["value"],
                "state": {
                    "current": str(run["state"]),
                    "startDate": iso(run["started_at"]),
                    "endDate": iso(run["ended_at"]),
                },
            }
            for run in runs
        ],
    }

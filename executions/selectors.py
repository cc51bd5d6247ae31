"""Reads about executions that several views share."""

from __future__ import annotations

from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce

from executions.models import Execution, LogEntry, TaskRunAttempt


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

"""The error summary at the top of a failed execution's page: which task failed, its message,
and a link to the log line that says so (issue 20).

Reads only. A flowable fails because a child failed, so only the innermost failed runs are
named; an execution that failed without any failed task run (a flow that cannot load, a
timeout) is summed up by its own last ERROR line.
"""

from __future__ import annotations

from dataclasses import dataclass

from executions.models import Execution, LogEntry, TaskRun
from kernel.states import State

MAX_FAILURES = 5
FAILED_STATES = {State.FAILED, State.KILLED}


@dataclass(frozen=True)
class Failure:
    task_id: str
    value: str | None
    task_run_id: str | None
    message: str
    log_id: int | None


def _last_error(execution: Execution, task_run_id: str | None) -> LogEntry | None:
    lines = LogEntry.objects.filter(execution_id=execution.pk, task_run_id=task_run_id)
    return (
        lines.filter(level="ERROR").order_by("-id").first()
        or lines.filter(level="WARN").order_by("-id").first()
    )


def failure_summary(execution: Execution, runs: list[TaskRun]) -> list[Failure]:
    """Up to MAX_FAILURES failures, in run order; empty unless the execution FAILED."""
    if execution.state != State.FAILED:
        return []
    failed = [r for r in runs if r.state in FAILED_STATES]
    parents = {r.parent_id for r in failed if r.parent_id}
    out = []
    for run in [r for r in failed if r.id not in parents][:MAX_FAILURES]:
        line = _last_error(execution, run.id)
        out.append(
            Failure(
                task_id=run.task_id,
                value=run.value,
                task_run_id=run.id,
                message=line.message if line else f"the task run ended {run.state}",
                log_id=line.pk if line else None,
            )
        )
    if not out:
        line = _last_error(execution, None)
        out.append(
            Failure(
                task_id="",
                value=None,
                task_run_id=None,
                message=line.message if line else "the execution failed without a log line",
                log_id=line.pk if line else None,
            )
        )
    return out

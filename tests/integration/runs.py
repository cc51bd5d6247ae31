"""Run a flow on the real workers and read back what it did: the deploy / create / wait and
the log and task-run look-ups the plugin families' integration tests all repeat."""

from __future__ import annotations

from typing import Any

from executions.models import Execution, LogEntry, TaskRun
from executions.services import execution_create, execution_wait
from flows.services import flow_deploy


def run_source(source: str, *, timeout: float, **create: Any) -> Execution:
    """Deploy the flow ``source`` and run it once (``create``: ``execution_create``'s other
    arguments, e.g. ``inputs``); the execution once it ended, or as it was at ``timeout``."""
    flow = flow_deploy(source=source).flow
    return execution_wait(execution_create(flow=flow, **create).id, timeout=timeout)


def log_messages(execution: Execution) -> list[str]:
    """What the execution logged, in order of arrival."""
    return list(LogEntry.objects.filter(execution=execution).values_list("message", flat=True))


def task_runs(execution: Execution) -> dict[str, TaskRun]:
    """The execution's task runs by task id (tests whose tasks run once)."""
    return {run.task_id: run for run in TaskRun.objects.filter(execution=execution)}

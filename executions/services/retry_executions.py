"""``retry: {behavior: CREATE_NEW_EXECUTION}``: a failed execution is marked RETRIED and run
again as a new execution (a replay from the start), until the policy's attempts are spent."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from executions.models import Execution, TaskRun
from executions.runtime.loading import execution_flow_spec
from executions.runtime.states import set_execution_state
from executions.services import execution_replay
from kernel.clock import now
from kernel.engine.planner import all_tasks
from kernel.states import State


def _policy(spec: Any, failed_task_ids: set[str]) -> dict[str, Any] | None:
    for task in all_tasks(spec):
        retry = task.retry or {}
        if task.id in failed_task_ids and retry.get("behavior") == "CREATE_NEW_EXECUTION":
            return dict(retry)
    flow_retry = spec.retry or {}
    if flow_retry.get("behavior") == "CREATE_NEW_EXECUTION":
        return dict(flow_retry)
    return None


def retry_as_new_execution(execution: Execution) -> Execution | None:
    """Called when an execution ends: the new execution, or None when nothing is retried."""

    if execution.state != State.FAILED:
        return None
    failed = set(
        TaskRun.objects.filter(execution=execution, state=State.FAILED).values_list(
            "task_id", flat=True
        )
    )
    policy = _policy(execution_flow_spec(execution), failed)
    if policy is None:
        return None
    root = execution.original_id or execution.id
    made = 1 + Execution.objects.filter(original_id=root).count()
    limit = policy.get("maxAttempt", policy.get("maxAttempts"))
    if limit is None or made >= int(limit):
        return None
    with transaction.atomic():
        locked = Execution.objects.select_for_update().get(pk=execution.pk)
        if locked.state != State.FAILED:
            return None
        set_execution_state(locked, State.RETRIED, now(), via="retry")
        locked.save()
        return execution_replay(locked)

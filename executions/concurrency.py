"""Flow-level ``concurrency``: at most ``limit`` running executions of a flow; the others
wait QUEUED in creation order (QUEUE), or end CANCELLED (CANCEL) or FAILED (FAIL).

The decision is taken by the executor under a lock on the flow row, so two executors
starting executions of the same flow at once cannot both pass the limit.
"""

from __future__ import annotations

from typing import Any

from executions.dispatch import now, wake_executor
from executions.models import Execution
from executions.persistence import set_execution_state
from executions.states import TERMINAL, State

WAITING = (State.CREATED, State.QUEUED)
_NOT_RUNNING = [str(s) for s in (*TERMINAL, *WAITING)]
BEHAVIORS = {"QUEUE": State.QUEUED, "CANCEL": State.CANCELLED, "FAIL": State.FAILED}


def held_back(execution: Execution, concurrency: dict[str, Any] | None) -> bool:
    """True when ``execution`` may not start now (its state was updated, not saved)."""
    if not concurrency or execution.state not in WAITING:
        return False
    from flows.models import Flow

    # Serialise decisions per flow: the flow row is the lock.
    Flow.objects.select_for_update().filter(
        namespace__name=execution.namespace, flow_id=execution.flow_id
    ).first()
    same_flow = Execution.objects.filter(namespace=execution.namespace, flow_id=execution.flow_id)
    running = same_flow.exclude(state__in=_NOT_RUNNING).count()
    ahead = same_flow.filter(state=State.QUEUED, created_at__lt=execution.created_at).exists()
    if running < int(concurrency.get("limit", 1)) and not ahead:
        return False
    target = BEHAVIORS.get(str(concurrency.get("behavior", "QUEUE")).upper(), State.QUEUED)
    if execution.state != target:
        set_execution_state(execution, target, now())
        execution.version += 1
        execution.save()
    return True


def release_queued(ended: Execution) -> None:
    """An execution ended: wake the oldest queued executions of its flow."""
    queued = Execution.objects.filter(
        namespace=ended.namespace, flow_id=ended.flow_id, state=State.QUEUED
    ).order_by("created_at")
    for execution_id in queued.values_list("id", flat=True)[:5]:
        wake_executor(execution_id)

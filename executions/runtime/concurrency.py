"""Flow-level ``concurrency``: at most ``limit`` running executions of a flow; the others
wait QUEUED in creation order (QUEUE), or end CANCELLED (CANCEL) or FAILED (FAIL).

The decision is taken by the executor under a lock on the flow row, so two executors
starting executions of the same flow at once cannot both pass the limit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Q

from executions.models import Execution, LogEntry
from executions.runtime.dispatch import wake_executor
from executions.runtime.states import set_execution_state
from flows.models import Flow
from kernel.clock import now
from kernel.states import TERMINAL, State

WAITING = (State.CREATED, State.QUEUED)
_NOT_RUNNING = [str(s) for s in (*TERMINAL, *WAITING)]
BEHAVIORS = {"QUEUE": State.QUEUED, "CANCEL": State.CANCELLED, "FAIL": State.FAILED}


def held_back(execution: Execution, concurrency: dict[str, Any] | None) -> bool:
    """True when ``execution`` may not start now (its state was updated, not saved)."""
    if not concurrency or execution.state not in WAITING:
        return False

    # Serialise decisions per flow: the flow row is the lock.
    Flow.objects.select_for_update().filter(
        namespace__name=execution.namespace, flow_id=execution.flow_id
    ).first()
    same_flow = Execution.objects.filter(namespace=execution.namespace, flow_id=execution.flow_id)
    running = same_flow.exclude(state__in=_NOT_RUNNING).count()
    limit = int(concurrency.get("limit", 1))
    # First come, first served: an earlier execution still waiting goes first, even one whose
    # wake-up has not been handled yet (CREATED) -- two executors taking wake-ups out of
    # order made later executions overtake (found by the chaos suite, issue 9).
    moment = now()
    ahead = same_flow.filter(created_at__lt=execution.created_at).filter(
        Q(state=State.QUEUED)
        | Q(state=State.CREATED) & (Q(due_at__isnull=True) | Q(due_at__lte=moment))
    )
    if running < limit and not ahead.exists():
        if running + 1 < limit:
            release_queued(execution)  # slots are left: whoever queued behind us goes too
        return False
    target = BEHAVIORS.get(str(concurrency.get("behavior", "QUEUE")).upper(), State.QUEUED)
    if execution.state != target:
        set_execution_state(execution, target, now())
        execution.version += 1
        execution.save()
        _tell(execution, target, running)
    return True


#: What Kestra's executor logs when a flow's concurrency limit holds an execution back; users
#: and their log alerts know these lines (issue 22).
_MESSAGES = {
    State.QUEUED: ("INFO", "Flow is queued due to concurrency limit exceeded, {} running(s)"),
    State.FAILED: ("ERROR", "Flow is FAILED due to concurrency limit exceeded"),
}


def _tell(execution: Execution, state: State, running: int) -> None:
    if state not in _MESSAGES:
        return  # Kestra says nothing when it cancels one

    level, text = _MESSAGES[state]
    LogEntry.objects.create(
        execution=execution, timestamp=now(), level=level, message=text.format(running)
    )


def release_queued(ended: Execution) -> None:
    """An execution ended (or started with slots left): wake the oldest queued executions
    of its flow."""
    for execution_id in queue_head(ended.namespace, ended.flow_id):
        wake_executor(execution_id)


def queue_head(namespace: str, flow_id: str, size: int = 5) -> list[str]:
    """The oldest queued executions of a flow: the only ones that can start next. Asked
    each time an execution ends, so one plain statement (an ORM query compiled anew cost a
    task worker more than the query did)."""
    sql = (
        f"SELECT id FROM {Execution._meta.db_table} WHERE namespace = %s AND flow_id = %s "
        "AND state = %s ORDER BY created_at LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [namespace, flow_id, str(State.QUEUED), size])
        return [row[0] for row in cursor.fetchall()]


def quiet_queue_heads(quiet_since: datetime) -> list[str]:
    """For the sweeper: the heads of the queues holding executions nobody touched since
    ``quiet_since`` (their wake-up may be lost). Only heads: waking every queued execution
    made a queue of thousands a flood of useless executor hops (issue 9's chaos suite)."""
    flows = (
        Execution.objects.filter(state=State.QUEUED, updated_at__lt=quiet_since)
        .order_by()  # the model's ordering would make DISTINCT see one row per execution
        .values_list("namespace", "flow_id")
        .distinct()
    )
    return [i for namespace, flow_id in flows[:200] for i in queue_head(namespace, flow_id)]

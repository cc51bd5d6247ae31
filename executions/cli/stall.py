"""``--wait`` notices when nothing consumes an execution's queue.

An execution left CREATED means no executor took its wake-up; an attempt left QUEUED means no
worker listens on its queue (a ``workerGroup`` nobody started, a fleet that is down). Either
way ``--wait`` used to sit silently until its timeout. After ``--warn-after`` seconds without
any change it now names the queue once, and keeps waiting (issue 18); a change re-arms it.
"""

from __future__ import annotations

import time
from datetime import datetime

from executions.models import Execution, TaskRun, TaskRunAttempt
from executions.runtime.dispatch import EXECUTOR_QUEUE
from kernel.states import State

#: Default of ``--warn-after``: long enough for a cold worker to start, short enough to help.
WARN_AFTER_SECONDS = 30.0


def stall_message(execution: Execution, quiet_for: float, moment: datetime) -> str | None:
    """What to tell the user about an execution nothing has moved for ``quiet_for`` seconds,
    or None when it is waiting for a good reason (running tasks, a scheduled date, a
    concurrency limit, a pause)."""
    waited = f"nothing has moved for {quiet_for:.0f} s"
    if execution.state == State.CREATED:
        if execution.due_at is not None and execution.due_at > moment:
            return None  # scheduled for later, or retrying a flow that did not load
        return (
            f"warning: {waited}: execution {execution.id} is still CREATED. No executor seems "
            f"to be consuming queue '{EXECUTOR_QUEUE}', or every executor is far behind "
            "(start one: `trellis server executor`). Still waiting."
        )
    queued = (
        TaskRunAttempt.objects.filter(execution=execution, state=State.QUEUED)
        .values_list("queue", "task_run_id")
        .order_by("queue")
    )
    by_queue: dict[str, list[str]] = {}
    for queue, run_id in queued:
        by_queue.setdefault(queue, []).append(run_id)
    if not by_queue:
        return None
    names = dict(TaskRun.objects.filter(execution=execution).values_list("id", "task_id"))
    waiting = "; ".join(
        f"queue '{queue}' ({', '.join(sorted(names.get(r, r) for r in runs))})"
        for queue, runs in by_queue.items()
    )
    queues = ",".join(by_queue)
    return (
        f"warning: {waited}: task runs are QUEUED on {waiting}. No worker seems to be "
        f"consuming {'it' if len(by_queue) == 1 else 'them'}, or every worker on "
        f"{'it' if len(by_queue) == 1 else 'them'} is busy (start one: "
        f"`trellis server worker --queues {queues}`). Still waiting."
    )


class StallWatch:
    """Says once per quiet spell, after ``warn_after`` seconds, what the execution waits for."""

    def __init__(self, warn_after: float) -> None:
        self.warn_after = warn_after
        self.last_change = time.monotonic()
        self.warned = False

    def check(self, execution: Execution, *, moved: bool, moment: datetime) -> str | None:
        now = time.monotonic()
        if moved:
            self.last_change, self.warned = now, False
            return None
        quiet_for = now - self.last_change
        if self.warned or self.warn_after <= 0 or quiet_for < self.warn_after:
            return None
        message = stall_message(execution, quiet_for, moment)
        if message is not None:
            self.warned = True
        return message

"""An execution whose flow the executor cannot load: a few tries, then FAILED with the reason.

A revision names a task type whose plugin is not installed on this executor host, or a
Template task's template no longer parses: before issue 18 the executor's task raised, the
sweeper woke the execution every ``TRELLIS_QUIET_SECONDS`` and it stayed CREATED forever with
the reason only in a process log. Now each failed try is an execution log line (what
``execution show`` and the admin print) and a due time ``TRELLIS_LOAD_RETRY_SECONDS`` ahead;
after ``TRELLIS_LOAD_TRIES`` tries the execution ends FAILED. A few tries rather than one,
because a rolling upgrade may leave one executor without a plugin that the next one has.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings

from executions.models import Execution, LogEntry, TaskRun, TaskRunAttempt
from executions.runtime.states import set_execution_state, set_task_run_state
from kernel.spec.model import SpecError
from kernel.states import TERMINAL, State
from orchestrator.observability import metrics

log = logging.getLogger(__name__)

#: Every try's log line starts so; the tries since the execution last (re)started are counted.
PREFIX = "The flow of this execution cannot be loaded"


def reason_of(exc: BaseException) -> str:
    """The error as a user reads it (a SpecError already names the file, line and type)."""
    return str(exc) if isinstance(exc, SpecError) else f"{type(exc).__name__}: {exc}"


def load_failed(execution: Execution, exc: Exception, moment: datetime) -> bool:
    """Record one failed try to load ``execution``'s flow (caller holds its row lock); returns
    True when that was the last try and the execution is now FAILED."""
    tries = int(settings.TRELLIS_LOAD_TRIES)
    number = _tries_so_far(execution) + 1
    reason = reason_of(exc)
    metrics.inc_on_commit(
        metrics.EXECUTIONS_UNLOADABLE, namespace=execution.namespace, flow=execution.flow_id
    )
    if number < tries:
        delay = float(settings.TRELLIS_LOAD_RETRY_SECONDS)
        message = f"{PREFIX} (try {number} of {tries}, next in {delay:g} s): {reason}"
        log.warning("%s", message)
        _log(execution, moment, "WARN", message)
        execution.due_at = moment + timedelta(seconds=delay)
        execution.save(update_fields=["due_at", "updated_at"])
        return False
    message = f"{PREFIX} (try {number} of {tries}): {reason}. The execution failed."
    log.error("%s", message)
    _log(execution, moment, "ERROR", message)
    _fail(execution, moment)
    return True


def _tries_so_far(execution: Execution) -> int:
    """Failed tries since the execution was created or last restarted."""
    since = execution.created_at
    if execution.state_history:
        since = datetime.fromisoformat(execution.state_history[-1]["date"])
    return LogEntry.objects.filter(
        execution=execution, task_run_id__isnull=True, timestamp__gte=since,
        message__startswith=PREFIX,
    ).count()  # fmt: skip


def _log(execution: Execution, moment: datetime, level: str, message: str) -> None:
    LogEntry.objects.create(execution=execution, timestamp=moment, level=level, message=message)


def _fail(execution: Execution, moment: datetime) -> None:
    """FAILED, with whatever it had started: task runs not ended fail too, attempts still
    waiting for a worker are cancelled (a running one finds its run ended and records nothing)."""
    active = TaskRun.objects.filter(execution=execution).exclude(
        state__in=[str(s) for s in TERMINAL]
    )
    for run in active:
        set_task_run_state(run, State.FAILED, moment)
        run.save(update_fields=["state", "ended_at", "state_history"])
    TaskRunAttempt.objects.filter(execution=execution, state=State.QUEUED).update(
        state=State.CANCELLED, ended_at=moment, note="the execution's flow cannot be loaded"
    )
    set_execution_state(execution, State.FAILED, moment)
    execution.due_at = None
    # Ended task runs may have changed: every executor's remembered runs are stale.
    execution.version += 1
    execution.settled_version = execution.version
    execution.save()

"""The executor's use cases: advance one execution, and sweep for what was lost.

``advance_execution`` locks the execution row, runs the pure engine and applies its plan in
one transaction; messages go out only after commit. Running it twice on the same state
plans nothing new, so a duplicated or late wake-up is harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Q

from executions.models import Execution, LogEntry, TaskRun, TaskRunAttempt
from executions.runtime import rows, snapshot_cache
from executions.runtime.appliers import apply_after_writes, apply_plan
from executions.runtime.children import SUBFLOW_OWNER
from executions.runtime.concurrency import held_back, quiet_queue_heads, release_queued
from executions.runtime.dispatch import send_attempts, wake_executor
from executions.runtime.expr_io import ExecutionIO
from executions.runtime.loading import engine_env, execution_flow_spec, executor_budget
from executions.runtime.persistence import load_snapshot, new_attempt, run_snapshot
from executions.runtime.states import set_task_run_state
from executions.runtime.subflow_items import ITEMS_OWNER, store_item_outputs
from executions.runtime.subflows import subflow_ended
from executions.runtime.unloadable import load_failed
from kernel.clock import now
from kernel.engine import planner as engine
from kernel.engine.snapshot import BY_SEQ, TaskRunSnapshot
from kernel.secrets import environ_masker
from kernel.states import TERMINAL, State
from orchestrator.observability import metrics
from orchestrator.observability.logs import bind, log_context

log = logging.getLogger(__name__)

#: Called after commit with each execution that reached a terminal state (flow triggers,
#: subflow parents, concurrency queues register here).
ExecutionEndedHook = Callable[[Execution], None]
_ended_hooks: list[ExecutionEndedHook] = []


def register_execution_ended(hook: ExecutionEndedHook) -> ExecutionEndedHook:
    if hook not in _ended_hooks:
        _ended_hooks.append(hook)
    return hook


def advance_execution(execution_id: str) -> State | None:
    """Plan and apply once; returns the execution's state afterwards (None if unknown).

    Process log lines written meanwhile name the execution and its flow.

    Every expression rendered here runs under the transaction's write lock, so all of them
    share one tight budget (``executor_budget``): a slow condition fails its task run
    instead of holding the lock (on SQLite, the whole database's) for long."""
    with log_context(execution_id=execution_id):
        return _advance(execution_id)


def _advance(execution_id: str) -> State | None:
    with executor_budget(), transaction.atomic():
        execution = rows.get(Execution, execution_id, lock=True)
        if execution is None:
            return None
        return advance_locked(execution)


#: Picks, among the QUEUED attempts a hop creates, one its caller runs at once instead of
#: sending it (the worker's eager continuation): it marks that attempt claimed before it is
#: written (``apply_plan``) and returns it, or returns None.
Keep = Callable[[list[TaskRunAttempt]], "TaskRunAttempt | None"]


def advance_locked(execution: Execution, keep: Keep | None = None) -> State:
    """The executor's rules for ``execution``, locked by the caller in the caller's
    transaction (under ``executor_budget``): plan once and apply. The executor calls it
    for a wake-up; a worker calls it right after recording a result (its fast path,
    docs/architecture.md "The worker's fast path"). Attempts the plan queues are sent after
    commit, but the one ``keep`` takes."""
    bind(namespace=execution.namespace, flow_id=execution.flow_id)
    if execution.state in TERMINAL:
        return State(execution.state)
    if execution.held and execution.state == State.PAUSED:
        return State.PAUSED  # paused by a user: nothing moves until resume or kill
    if scheduled_later(execution, now()):
        return State.CREATED  # a wake-up before its scheduleDate; the sweeper wakes it then
    try:
        spec = execution_flow_spec(execution)
    except DatabaseError:
        raise  # the database's trouble, not the flow's: the wake-up is retried
    except Exception as exc:  # a missing plugin, a broken template (issue 18)
        if load_failed(execution, exc, now()):
            _on_commit_ended(execution)
        return State(execution.state)
    before = execution.state
    if held_back(execution, spec.concurrency):
        if execution.state in TERMINAL:
            _on_commit_ended(execution)
        return State(execution.state)
    env = engine_env()
    # The masker learns the secrets this hop's renders read: the executor's own log
    # lines (a flowable's error quoting a value) are masked with them (issue 21).
    masker = environ_masker()
    env.io = ExecutionIO(execution.namespace, execution.flow_id, execution.id, masker)
    snap = load_snapshot(execution, known=snapshot_cache.take(execution))
    plan = engine.plan(spec, snap, now(), env)
    if not plan:
        snapshot_cache.keep_on_commit(execution, snap.task_runs)
        return State(execution.state)
    applied = apply_plan(execution, plan, now(), masker, keep)
    if execution.state != before:
        log.info("execution %s -> %s", before, execution.state)
    send_attempts([a for a in applied.attempts if a is not applied.kept])
    apply_after_writes(applied)
    if execution.state in TERMINAL:
        store_item_outputs(execution)
        _on_commit_ended(execution)
    elif not applied.later:  # an after-writes action (a subflow) may write runs again
        snapshot_cache.keep_on_commit(execution, _after(snap.task_runs, applied.written()))
    return State(execution.state)


def _on_commit_ended(execution: Execution) -> None:
    transaction.on_commit(lambda: _run_ended_hooks(execution))


def scheduled_later(execution: Execution, moment: datetime) -> bool:
    """Created with a ``scheduleDate`` still ahead of ``moment``: not to be started (nor
    queued behind a concurrency limit) yet. Only such an execution is CREATED with a due
    time: the first plan moves every other one out of CREATED."""
    due = execution.due_at
    return execution.state == State.CREATED and due is not None and due > moment


def _after(before: tuple[TaskRunSnapshot, ...], written: list[TaskRun]) -> list[TaskRunSnapshot]:
    """The task runs once a plan is applied: ``before`` with the runs it wrote replaced."""
    runs = {r.id: r for r in before}
    for run in written:
        runs[run.id] = run_snapshot(run)
    return sorted(runs.values(), key=BY_SEQ)


def _run_ended_hooks(execution: Execution) -> None:
    for hook in list(_ended_hooks):
        try:
            hook(execution)
        except Exception:  # a listener's bug must not stop the others
            log.exception("execution-ended hook %r failed for %s", hook, execution.id)


def sweep() -> dict[str, int]:
    """Find what a crash or a lost message left behind, and set it going again.

    * a RUNNING attempt whose lease expired (its worker died): it is marked lost and the task
      run gets a new attempt (or is KILLED if the execution is being killed);
    * a QUEUED attempt whose message may be lost: sent again (a duplicate finds it claimed);
    * an execution that is due (retry or pause delay, its scheduleDate) or has been quiet
      too long: woken.
    """
    moment = now()
    counts = {"lost": 0, "resent": 0, "woken": 0}
    stale = TaskRunAttempt.objects.filter(state=State.RUNNING, lease_expires_at__lt=moment)
    for attempt_id in stale.values_list("id", flat=True)[:500]:
        if _recover_lost_attempt(attempt_id):
            counts["lost"] += 1
    resend_after = timedelta(seconds=settings.TRELLIS_RESEND_SECONDS)
    queued = TaskRunAttempt.objects.filter(state=State.QUEUED, sent_at__lt=moment - resend_after)
    for attempt in queued[:500]:
        TaskRunAttempt.objects.filter(pk=attempt.pk, state=State.QUEUED).update(sent_at=moment)
        with transaction.atomic():
            send_attempts([attempt])
        counts["resent"] += 1
        metrics.inc(metrics.ATTEMPTS_RESENT, queue=attempt.queue)
    quiet = moment - timedelta(seconds=settings.TRELLIS_QUIET_SECONDS)
    # A quiet execution may have lost its wake-up, unless it was scheduled for later and
    # its date has not come: waking it would only be refused (``scheduled_later``).
    waiting_for_its_date = Q(state=State.CREATED, due_at__gt=moment)
    due = list(
        Execution.objects.exclude(state__in=[str(s) for s in (*TERMINAL, State.QUEUED)])
        .filter(Q(due_at__lte=moment) | Q(updated_at__lt=quiet) & ~waiting_for_its_date)
        .values_list("id", flat=True)[:1000]
    )
    for execution_id in due + quiet_queue_heads(quiet):
        with transaction.atomic():
            wake_executor(execution_id)
        counts["woken"] += 1
    counts["subflows"] = _recover_ended_children(quiet)
    return counts


def _recover_ended_children(quiet: datetime) -> int:
    """Subflow task runs still waiting for a child that has ended: the hook that should
    have ended them was lost (its process died after the child's commit). Each such
    attempt (owner ``execution:<child id>``) is handed to the hook again; it is idempotent."""

    waiting = TaskRunAttempt.objects.filter(
        state=State.RUNNING, owner__startswith=SUBFLOW_OWNER, started_at__lt=quiet
    ).values_list("owner", flat=True)[:200]
    child_ids = [owner[len(SUBFLOW_OWNER) :] for owner in waiting]
    ended = Execution.objects.filter(
        pk__in=child_ids, state__in=[str(s) for s in TERMINAL], ended_at__lt=quiet
    )
    recovered = 0
    for child in ended:
        subflow_ended(child)
        recovered += 1
    # ForEachItem's items run waits for all its children: hand it the last one to end
    # once none is left running (the hook recounts them under the run's lock).
    items = TaskRunAttempt.objects.filter(
        state=State.RUNNING, owner=ITEMS_OWNER, started_at__lt=quiet
    ).values_list("task_run_id", flat=True)[:50]
    for run_id in items:
        children = Execution.objects.filter(parent_task_run_id=run_id)
        if children.exclude(state__in=[str(s) for s in TERMINAL]).exists():
            continue
        last = children.order_by("-ended_at").first()
        if last is not None and last.ended_at is not None and last.ended_at < quiet:
            subflow_ended(last)
            recovered += 1
    return recovered


#: How a lost attempt's note starts; the lost attempts of a task run are counted by it.
LOST_LEASE_NOTE = "lease expired"


def _recover_lost_attempt(attempt_id: int) -> bool:
    with transaction.atomic():
        attempt = (
            TaskRunAttempt.objects.select_for_update()
            .filter(pk=attempt_id, state=State.RUNNING, lease_expires_at__lt=now())
            .first()
        )
        if attempt is None:
            return False
        moment = now()
        attempt.state, attempt.ended_at = State.FAILED, moment
        attempt.note = f"{LOST_LEASE_NOTE}: worker {attempt.owner} stopped heartbeating"
        attempt.save()
        metrics.inc_on_commit(metrics.ATTEMPTS_LOST, queue=attempt.queue)
        run = TaskRun.objects.select_for_update().get(pk=attempt.task_run_id)
        execution = Execution.objects.get(pk=run.execution_id)
        LogEntry.objects.create(
            execution=execution, task_run_id=run.id, task_id=run.task_id,
            attempt=attempt.number, timestamp=moment, level="WARN", message=attempt.note,
        )  # fmt: skip
        if run.state != State.RUNNING or run.attempts != attempt.number:
            return True
        lost = TaskRunAttempt.objects.filter(
            task_run_id=run.id, note__startswith=LOST_LEASE_NOTE
        ).count()
        if execution.state == State.KILLING:
            set_task_run_state(run, State.KILLED, moment)
        elif lost >= settings.TRELLIS_MAX_LOST_LEASES:
            # Issue 21: a task that kills or starves its worker every time would otherwise
            # be sent again for ever; after a few lost leases it is the task's failure.
            set_task_run_state(run, State.FAILED, moment)
            LogEntry.objects.create(
                execution=execution, task_run_id=run.id, task_id=run.task_id,
                attempt=attempt.number, timestamp=moment, level="ERROR",
                message=(
                    f"{run.task_id} failed: its attempts lost their lease {lost} times (the "
                    "worker died or stopped heartbeating while running it); not sent again"
                ),
            )  # fmt: skip
        else:
            set_task_run_state(run, State.CREATED, moment)
            send_attempts([new_attempt(run, run.queue, moment)])
        run.save()
        wake_executor(execution.id)
        return True


def _subflow_parent(execution: Execution) -> None:
    subflow_ended(execution)


register_execution_ended(_subflow_parent)


# One read in autocommit (no BEGIN/COMMIT around it): most flows have no queue, and a
# wake-up sent outside a transaction goes out at once.
register_execution_ended(release_queued)

"""A worker runs one attempt of one runnable task run: claim, render, run, record.

* Claim: the attempt row goes QUEUED -> RUNNING under a row lock, only if its task run is
  still waiting for exactly this attempt and the execution is not being killed. A second
  delivery of the same message finds it claimed and does nothing.
* Run: properties are rendered with the execution's context, the plugin runs in this thread
  while the process's heartbeat watcher (``executions.worker.heartbeat``) extends the lease, flushes
  logs, and raises the stop flag when the execution is killed, the attempt was superseded,
  or the task's ``timeout`` passed.
* Record: the result is written only if this attempt still owns the task run (fencing by
  attempt number); then the executor is woken.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import traceback
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction

from executions.models import Execution, TaskRun, TaskRunAttempt
from executions.runtime import advance, rows
from executions.runtime.dispatch import wake_executor
from executions.runtime.expr_io import ExecutionIO
from executions.runtime.loading import execution_flow_spec, executor_budget, task_run_context
from executions.runtime.persistence import load_snapshot
from executions.runtime.states import check_task_run_move, history_entry, set_task_run_state
from executions.runtime.unloadable import reason_of
from executions.worker.heartbeat import Heartbeat
from executions.worker.run_context import AttemptLogger, WorkerContext
from executions.worker.workdir import shared_folder
from kernel import taint
from kernel.clock import now
from kernel.durations import parse_duration
from kernel.expressions.limits import expression_budget
from kernel.expressions.render import ExpressionError
from kernel.plugin import RunnableTask, TaskFailed, TaskResult
from kernel.registry import registry
from kernel.secrets import Masker, environ_masker
from kernel.states import State
from orchestrator.observability import metrics
from orchestrator.observability.logs import bind, log_context

log = logging.getLogger(__name__)
_HOST = socket.gethostname()


def owner() -> str:
    """This process, as an attempt's owner: read at each claim, never at import, because the
    module is imported by the prefork parent and an attempt must name the child that runs it."""
    return f"{_HOST}:{os.getpid()}"


@dataclass
class Claim:
    attempt: TaskRunAttempt
    run: TaskRun
    execution: Execution


_ATTEMPT, _RUN, _EXECUTION = (rows.concrete_names(m) for m in (TaskRunAttempt, TaskRun, Execution))
#: Where the run's and the execution's columns start in a claim row.
_RUN_AT = len(_ATTEMPT)
_EXECUTION_AT = _RUN_AT + len(_RUN)


@lru_cache(maxsize=1)
def _claim_sql() -> str:
    """One statement reads the attempt, its task run and the execution, and locks the
    attempt and the run (SQLite's BEGIN IMMEDIATE already holds the database).

    The claim's commit waits for the disk like every other (it did not until issue 19): a
    claim lost in a database crash put the attempt back to QUEUED while its worker ran it,
    and the sweeper sent the same attempt again, so one attempt number ran its task twice
    (seen by the chaos suite's PostgreSQL crash). Chained attempts are claimed inside the
    record's transaction anyway, so this costs one flush per message-started attempt.
    """
    lock = " FOR UPDATE OF a, r" if connection.features.has_select_for_update_of else ""
    return (
        f"SELECT {rows.select_list(TaskRunAttempt, 'a', _ATTEMPT)}, "
        f"{rows.select_list(TaskRun, 'r', _RUN)}, {rows.select_list(Execution, 'e', _EXECUTION)} "
        f"FROM {rows.table(TaskRunAttempt)} a JOIN {rows.table(TaskRun)} r ON r.id = a.task_run_id "
        f"JOIN {rows.table(Execution)} e ON e.id = r.execution_id WHERE a.id = %s{lock}"
    )


def claim(attempt_id: int) -> Claim | None:
    """Take the attempt, or None when someone else has it or it is no longer wanted."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(_claim_sql(), [attempt_id])
            row = cursor.fetchone()
        if row is None:
            return None
        attempt = rows.instance(TaskRunAttempt, row[:_RUN_AT])
        if attempt.state != State.QUEUED:
            return None
        run = rows.instance(TaskRun, row[_RUN_AT:_EXECUTION_AT])
        execution = rows.instance(Execution, row[_EXECUTION_AT:])
        run.execution, attempt.task_run = execution, run
        moment = now()
        wanted = (
            run.state == State.CREATED
            and attempt.number == run.attempts + 1
            and execution.state not in (State.KILLING, State.KILLED)
        )
        if not wanted:
            attempt.state, attempt.ended_at = State.CANCELLED, moment
            attempt.note = f"not needed: task run is {run.state}, execution {execution.state}"
            rows.save_fields(attempt, ("state", "ended_at", "note"))
            return None
        return _take(attempt, run, execution, moment)


def _take(attempt: TaskRunAttempt, run: TaskRun, execution: Execution, moment: datetime) -> Claim:
    """Write the claim of a QUEUED attempt its task run waits for."""
    claimed = _claimed(attempt, run, execution, moment)
    with rows.batched():  # one round trip on PostgreSQL
        rows.save_fields(attempt, _CLAIMED_ATTEMPT, counted=False)
        rows.save_fields(run, _CLAIMED_RUN, counted=False)
    return claimed


def _claimed(
    attempt: TaskRunAttempt, run: TaskRun, execution: Execution, moment: datetime
) -> Claim:
    """The claim of a QUEUED attempt its task run waits for, in memory: the attempt RUNNING
    with this process as its owner and a fresh lease, the run RUNNING."""
    lease = timedelta(seconds=settings.TRELLIS_LEASE_SECONDS)
    attempt.state, attempt.owner = State.RUNNING, owner()
    attempt.started_at = attempt.heartbeat_at = moment
    attempt.lease_expires_at = moment + lease
    set_task_run_state(run, State.RUNNING, moment)
    run.attempts = attempt.number
    run.started_at = run.started_at or moment
    return Claim(attempt, run, execution)


_CLAIMED_ATTEMPT = ("state", "owner", "started_at", "heartbeat_at", "lease_expires_at")
_CLAIMED_RUN = ("state", "attempts", "started_at", "state_history", "ended_at")


#: Names through which a template can reach other task runs' data.
_OTHER_RUNS = ("outputs", "currentEachOutput", "printContext", "render", "errorLogs")


def mentions_other_runs(value: Any) -> bool:
    """Whether rendering ``value`` may need other task runs (their outputs): if not, the
    worker loads only this run and its ancestors instead of the whole execution."""
    if isinstance(value, str):
        return ("{{" in value or "{%" in value) and any(n in value for n in _OTHER_RUNS)
    if isinstance(value, dict):
        return any(mentions_other_runs(k) or mentions_other_runs(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(mentions_other_runs(v) for v in value)
    return False


#: Property kinds rendered as text, as Kestra renders string properties.
TEXT_KINDS = frozenset({"string", "any", "duration"})


def render_properties(task: Any, plugin: RunnableTask, ctx: WorkerContext) -> dict[str, Any]:
    """Declared defaults, then the task's own properties rendered (dynamic ones only). An
    expression that fails says which property of which task held it."""
    props: dict[str, Any] = {p.name: p.default for p in plugin.properties if p.default is not None}
    for key, value in task.properties.items():
        declared = plugin.prop(key)
        name = declared.name if declared else key
        try:
            if declared is not None and not declared.dynamic:
                props[name] = value
            elif declared is None or declared.kind in TEXT_KINDS:
                props[name] = ctx.render_text(value)  # strings stay strings
            else:
                props[name] = ctx.render(value)  # a lone {{ expr }} keeps its native type
        except ExpressionError as exc:
            raise type(exc)(f"tasks.{task.id}.{key}: {exc}", exc.template) from exc
    return props


def task_budget(task: Any, deadline: datetime | None) -> AbstractContextManager[Any]:
    """Every expression the attempt renders (its properties, and what the plugin renders
    while it runs) stops at the task's ``timeout`` too: the heartbeat's stop flag is not
    seen by a render stuck in one long expression (issue 21)."""
    if deadline is None:
        return nullcontext()
    left = (deadline - now()).total_seconds()
    return expression_budget(
        until=time.monotonic() + left, message=f"Timeout after {task.timeout} (task timeout)"
    )


def run_attempt(attempt_id: int) -> State | None:
    """Claim, run and record one attempt; returns its final state (None: not ours to run).
    Process log lines written meanwhile name the execution, the task run and the flow."""
    with log_context():
        return _run_attempt(attempt_id)


class Chain:
    """The attempts one message runs: the one it names, then those its own records claim
    at once (eager continuation), while the chain is shorter than ``TRELLIS_EAGER_CHAIN``
    attempts and younger than ``TRELLIS_EAGER_SECONDS``; past either bound the next attempt
    goes through the queue like any other, so one message never holds a worker for long
    and a warm shutdown is not kept waiting by a long chain."""

    def __init__(self) -> None:
        self.length = 0
        self.started = time.monotonic()
        self.next: Claim | None = None

    def may_continue(self) -> bool:
        return (
            self.length + 1 < settings.TRELLIS_EAGER_CHAIN
            and time.monotonic() - self.started < settings.TRELLIS_EAGER_SECONDS
        )


def _run_attempt(attempt_id: int) -> State | None:
    close_old_connections()
    claimed = claim(attempt_id)
    chain = Chain()
    first: State | None = None
    while claimed is not None:
        state = _run_claimed(claimed, chain)
        first = state if chain.length == 0 else first
        claimed, chain.next = chain.next, None
        chain.length += 1
    return first


def _run_claimed(claimed: Claim, chain: Chain | None = None) -> State | None:
    execution, run = claimed.execution, claimed.run
    bind(execution_id=execution.id, task_run_id=run.id, namespace=execution.namespace,
         flow_id=execution.flow_id)  # fmt: skip
    masker = environ_masker()
    try:
        spec = execution_flow_spec(execution)
    except DatabaseError:
        raise
    except Exception as exc:  # this worker lacks a plugin the executor has (issue 18)
        return _unloadable(claimed, masker, exc)
    task = spec.task(run.task_id)
    logger = AttemptLogger(
        execution.id, run.id, run.task_id, claimed.attempt.number, masker,
        min_level=(task.log_level or "TRACE").upper(),
    )  # fmt: skip
    deadline = now() + parse_duration(task.timeout) if task.timeout else None
    beat = Heartbeat(
        claimed.attempt.pk, execution.id, owner(), logger, deadline, task.timeout or ""
    )
    io = ExecutionIO(execution.namespace, execution.flow_id, execution.id, masker)

    def variables() -> dict[str, Any]:
        lineage_only = not mentions_other_runs(task.properties)
        snap = load_snapshot(execution, lineage_of=run if lineage_only else None)
        me = next(r for r in snap.task_runs if r.id == run.id)
        return task_run_context(spec, snap, me, task, io)

    ctx = WorkerContext(
        execution_id=execution.id, task_run_id=run.id, task_id=run.task_id,
        attempt=claimed.attempt.number, namespace=execution.namespace,
        flow_id=execution.flow_id, variables=variables, logger=logger, masker=masker,
        stop=beat.stop, shared=shared_folder(spec, task, run, execution),
    )  # fmt: skip
    beat.start()
    state, outputs = State.FAILED, {}
    try:
        plugin = registry.get(task.type)()
        assert isinstance(plugin, RunnableTask)
        with task_budget(task, deadline):
            props = render_properties(task, plugin, ctx)
            result = plugin.run(props, ctx)
        if isinstance(result, TaskResult):
            state, outputs = result.state, result.outputs
        else:
            state, outputs = State.SUCCESS, dict(result or {})
        if beat.stop.is_set():
            state = State.KILLED if beat.reason == "killed" else State.FAILED
        elif state in (State.SUCCESS, State.WARNING):
            outputs = {**outputs, **ctx.save_shared()}
    except (TaskFailed, ExpressionError) as exc:
        logger.error(str(exc))
    except Exception as exc:  # noqa: BLE001 - a plugin's crash is the task's failure
        logger.error(f"{type(exc).__name__}: {exc}")
        logger.debug(traceback.format_exc())
    finally:
        beat.finish()
        if beat.reason == "timeout":
            logger.error(f"Task {task.id} failed: Timeout after {task.timeout}")
            state = State.FAILED
        elif beat.reason == "killed":
            state = State.KILLED
        ctx.cleanup()
    return record(claimed, state, outputs, logger, task_type=canonical_type(task.type), chain=chain)


def _unloadable(claimed: Claim, masker: Masker, exc: Exception) -> State | None:
    """The attempt fails with the reason in the task run's logs, as a plugin that fails to
    load fails its own task; raising instead left the attempt RUNNING without a heartbeat,
    and every lease expiry sent it to a worker that failed it the same way."""
    run = claimed.run
    logger = AttemptLogger(claimed.execution.id, run.id, run.task_id, claimed.attempt.number,
                           masker)  # fmt: skip
    message = f"The flow cannot be loaded on worker {owner()}: {reason_of(exc)}"
    log.error("%s", message)
    logger.error(message)
    return record(claimed, State.FAILED, {}, logger, task_type="(flow not loaded)")


def canonical_type(name: str) -> str:
    """The plugin's own type name for ``name`` (an alias counts as its plugin), or ``name``."""
    try:
        return registry.get(name).type
    except LookupError:
        return name


def record(
    claimed: Claim,
    state: State,
    outputs: dict[str, Any],
    logger: AttemptLogger | None = None,
    *,
    task_type: str = "",
    chain: Chain | None = None,
) -> State | None:
    """Write the attempt's last log lines and its result if it still owns the task run,
    then advance the execution, all in one transaction (the fast path, docs/architecture.md
    "The worker's fast path"). The attempt's duration is counted once recorded
    (``trellis_task_run_duration_seconds`` by ``task_type``).

    The execution row is locked first, as the executor locks it, but without waiting:
    when another process holds it (the executor, a worker recording a sibling), the result
    is recorded alone and the executor is woken, as before the fast path. With ``chain``,
    the attempt the plan queues next on this worker's own queue is claimed in the same
    transaction and left in ``chain.next`` for the caller to run at once.

    When the executor's rules fail here (a bug, an expression over budget, a database
    error), the whole transaction is rolled back and the result recorded again alone, with
    the executor woken to plan: a savepoint would cost two statements on every record."""
    lines = logger.take() if logger is not None else []
    fast = settings.TRELLIS_WORKER_ADVANCES
    try:
        return _record(claimed, state, outputs, logger, lines, task_type, chain if fast else None,
                       fast)  # fmt: skip
    except _RulesFailed as failed:
        log.error("the worker could not advance execution %s; the executor will: %s",
                  claimed.execution.id, failed.__cause__, exc_info=failed.__cause__)  # fmt: skip
        if chain is not None:
            chain.next = None
        return _record(claimed, state, outputs, logger, lines, task_type, None, False)


class _RulesFailed(Exception):
    """The executor's rules raised in the worker's record transaction (see ``record``)."""


def _record(
    claimed: Claim,
    state: State,
    outputs: dict[str, Any],
    logger: AttemptLogger | None,
    lines: list[Any],
    task_type: str,
    chain: Chain | None,
    fast: bool,
) -> State | None:
    with executor_budget(), transaction.atomic():
        execution = (
            rows.get(Execution, claimed.run.execution_id, lock=True, skip_locked=True)
            if fast
            else None
        )
        moment = now()
        # The chokepoint's check, before anything is written; the UPDATE below keeps the
        # move's source (RUNNING) in its WHERE, so it is the move checked here or nothing.
        check_task_run_move(State.RUNNING, state, f"task run {claimed.run.task_id}")
        with rows.batched():  # the log lines travel with the attempt's update
            if logger is not None:
                logger.write(lines)
            owned = rows.update(
                TaskRunAttempt, {"state": state, "ended_at": moment},
                id=claimed.attempt.pk, state=State.RUNNING, owner=owner(),
            )  # fmt: skip
        if not owned:
            log.warning("attempt %s was superseded; its result is ignored", claimed.attempt.pk)
            return None
        # Conditional: only while the run still waits for this attempt. Nothing else writes a
        # RUNNING runnable's row without changing its state or attempt count, so the history
        # read at claim time is still the row's.
        run = claimed.run
        recorded = rows.update(
            TaskRun,
            {"state": state, "ended_at": moment, "outputs": _jsonable(taint.seal(outputs)),
             "state_history": [*run.state_history, history_entry(state, moment)]},
            id=run.pk, state=State.RUNNING, attempts=claimed.attempt.number,
        )  # fmt: skip
        if not recorded:
            return None
        if execution is None:
            wake_executor(run.execution_id)
        else:
            try:
                advance.advance_locked(execution, _keeper(execution, claimed, chain))
            except Exception as exc:
                raise _RulesFailed from exc
        seconds = max((moment - claimed.attempt.started_at).total_seconds(), 0.0)
        transaction.on_commit(lambda: _count_attempt(task_type or "unknown", state, seconds))
    return state


def _keeper(execution: Execution, claimed: Claim, chain: Chain | None) -> advance.Keep | None:
    """Eager continuation: the first attempt the plan queues on the queue ``claimed`` came
    from (this worker consumes it) is marked claimed by this process before the plan writes
    it, and handed to ``chain``; None when the chain is at its bounds."""
    if chain is None or not chain.may_continue():
        return None
    queue = claimed.attempt.queue

    def keep(attempts: list[TaskRunAttempt]) -> TaskRunAttempt | None:
        if execution.state in (State.KILLING, State.KILLED):
            return None
        for attempt in attempts:
            run = attempt.task_run
            if attempt.queue == queue and run.state == State.CREATED:
                run.execution = execution
                attempt.note = f"{EAGER_NOTE} by the worker that ran {claimed.run.task_id}"
                chain.next = _claimed(attempt, run, execution, now())
                return attempt
        return None

    return keep


#: How an attempt claimed by the worker that recorded the run before it starts its note.
EAGER_NOTE = "eager: run at once"


def _count_attempt(task_type: str, state: State, seconds: float) -> None:
    metrics.observe(metrics.TASK_RUN_DURATION, seconds, type=task_type, state=str(state))
    log.info("task run ended %s after %.3f s (%s)", state, seconds, task_type)


def _jsonable(value: Any) -> Any:
    import json

    from django.core.serializers.json import DjangoJSONEncoder

    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))

"""How each plan action is written: one applier per action type, and ``apply_plan`` that
runs them (the only code that turns the engine's plan into database writes).

Adding a plan action is one class in ``kernel.engine.plan`` (or in a plugin) and one
function here under ``@applies(TheAction)``; nothing else changes.

Why a registry on the runtime side rather than ``action.apply(writer)``: with double
dispatch the kernel would declare a writer Protocol holding one method per action, so a new
action would be three edits (the class, the Protocol, the runtime's writer) and the kernel
would spell out the runtime's operations. Here the kernel keeps plain data and knows
nothing of how it is stored (it imports no Django), the database half of an action sits in
one function next to its peers, and finding it costs one dict lookup by exact type per
action. Exact type, not ``isinstance``: a subclass (ForEachItem's ``StartItemSubflows``)
that inherited its parent's applier would be written wrongly without a word, so it must
register its own.

An applier runs in one of two phases, chosen where it is registered:

* the plan phase (default): called in plan order, it buffers its writes in the
  ``ApplyContext`` (new runs, changed runs, attempts, log lines, execution fields), and
  ``apply_plan`` then writes them all in one statement each (only what refers to no row of
  the plan may be written at once, as the label rows are);
* ``after_writes=True``: for actions that reach beyond this execution's rows (start a
  child execution, resume another). They run, in plan order, once the plan's rows are
  written and its attempts queued for sending (``apply_after_writes``), still in the
  executor's transaction, and may write rows the context does not know of.

An action type without an applier is an error: a type of ``kernel.engine.plan.ACTIONS`` at
import of this module, any other (a plugin's) at the first plan carrying it (``NoApplier``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from executions.models import Execution, LogEntry, TaskRun, TaskRunAttempt
from executions.runtime import rows
from executions.runtime.persistence import end_subflow_attempt, sync_label_rows
from executions.runtime.states import history_entry, set_execution_state, set_task_run_state
from executions.runtime.subflow_items import start_item_subflows
from executions.runtime.subflows import resume_other, start_subflow
from kernel import taint
from kernel.engine.plan import (
    ACTIONS,
    CreateTaskRun,
    Dispatch,
    LogLine,
    Plan,
    ResumeExecution,
    SetExecutionState,
    SetLabels,
    SetTaskRunState,
    StartSubflow,
    WakeAt,
)
from kernel.secrets import Masker
from kernel.states import TERMINAL, State
from plugins.core.flow.for_each_item import StartItemSubflows


class ApplyContext:
    """What the appliers of one plan share: the execution (locked by the caller), the task
    runs read or written so far, and the writes buffered until the plan's end. One per
    ``apply_plan`` call; ``apply_plan`` returns it, so the runtime reads what was written
    (``written``), what to send after commit (``attempts``) and what is left for the
    after-writes phase (``later``)."""

    __slots__ = (
        "execution", "now", "masker", "runs", "created", "changed", "ended_with_attempts",
        "attempts", "logs", "later", "next_seq", "settled", "kept",
    )  # fmt: skip

    def __init__(self, execution: Execution, now: datetime, masker: Masker | None) -> None:
        self.execution = execution
        self.now = now
        self.masker = masker
        #: Every task run read or written, by id (written: ``created`` and ``changed``).
        self.runs: dict[str, TaskRun] = {}
        self.created: dict[str, TaskRun] = {}
        self.changed: dict[str, TaskRun] = {}
        #: Runs that ended holding attempts (a Subflow's child execution ends with them).
        self.ended_with_attempts: list[TaskRun] = []
        #: QUEUED attempts, inserted with the plan and sent once it has committed.
        self.attempts: list[TaskRunAttempt] = []
        self.logs: list[LogEntry] = []
        #: Actions of the after-writes phase, in plan order.
        self.later: list[Any] = []
        self.next_seq = 0
        #: An ended run changed: every remembered snapshot of the execution is stale.
        self.settled = False
        #: The attempt the caller's ``keep`` claimed (written claimed, not to be sent).
        self.kept: TaskRunAttempt | None = None

    def run_of(self, run_id: str) -> TaskRun:
        """The task run ``run_id`` of this execution, read once per plan."""
        run = self.runs.get(run_id)
        if run is None:
            run = rows.get(TaskRun, run_id)
            if run is None or run.execution_id != self.execution.id:
                raise TaskRun.DoesNotExist(f"task run {run_id} of execution {self.execution.id}")
            self.runs[run_id] = run
        return run

    def queue_attempt(self, run: TaskRun, queue: str) -> None:
        """A new QUEUED attempt of ``run``, inserted with the plan."""
        self.attempts.append(
            TaskRunAttempt(task_run=run, execution_id=self.execution.id,
                           number=run.attempts + 1, queue=queue, sent_at=self.now)
        )  # fmt: skip

    def written(self) -> list[TaskRun]:
        """Every task run created or changed, as written."""
        return list(self.runs.values())


Applier = Callable[[Any, ApplyContext], None]
_A = TypeVar("_A", bound=Applier)

#: Plan phase, by exact action type (after-writes types map to ``_defer``).
_APPLIERS: dict[type, Applier] = {}
#: After-writes phase, by exact action type.
_AFTER_WRITES: dict[type, Applier] = {}


class NoApplier(LookupError):
    """A plan action type nobody said how to write."""

    def __init__(self, kind: type) -> None:
        super().__init__(
            f"plan action {kind.__module__}.{kind.__qualname__} has no applier: register one "
            f"with @applies({kind.__name__}) in executions/runtime/appliers.py"
        )


def applies(kind: type, *, after_writes: bool = False) -> Callable[[_A], _A]:
    """Register the decorated function as the way ``kind`` is written (once per type)."""

    def register(applier: _A) -> _A:
        if kind in _APPLIERS:
            held = _AFTER_WRITES.get(kind) or _APPLIERS[kind]
            raise ValueError(f"plan action {kind.__name__} is already applied by {held.__name__}")
        if after_writes:
            _AFTER_WRITES[kind] = applier
            _APPLIERS[kind] = _defer
        else:
            _APPLIERS[kind] = applier
        return applier

    return register


def _defer(action: Any, ctx: ApplyContext) -> None:
    ctx.later.append(action)


def check_covered(kinds: tuple[type, ...]) -> None:
    """Raise ``NoApplier`` for the first of ``kinds`` without an applier."""
    for kind in kinds:
        if kind not in _APPLIERS:
            raise NoApplier(kind)


#: Execution columns a plan can change (the rest, inputs and variables above all, stay put).
_EXECUTION_FIELDS = ["state", "state_history", "started_at", "ended_at", "outputs", "labels",
                     "due_at", "version", "settled_version", "updated_at"]  # fmt: skip


#: The columns of a log line the executor writes (its key is the database's).
_LOG_FIELDS = ("execution_id", "task_run_id", "task_id", "attempt", "timestamp", "level",
               "message")  # fmt: skip

#: Every column of a changed task run but its key (what ``save()`` wrote).
_RUN_FIELDS = tuple(n for n in rows.concrete_names(TaskRun) if n != "id")


def apply_plan(
    execution: Execution,
    plan: Plan,
    now: datetime,
    masker: Masker | None = None,
    keep: Callable[[list[TaskRunAttempt]], TaskRunAttempt | None] | None = None,
) -> ApplyContext:
    """Write ``plan`` for ``execution`` (locked by the caller), in the caller's transaction.

    Values derived from secrets (kernel.taint) never reach a row in clear: loop values,
    decisions and outputs are sealed, labels and log lines masked (with ``masker`` too: the
    secrets the plan's renders read, for messages that lost the mark, issue 21).

    New task runs, their attempts and log lines are inserted in one statement each, and a
    changed task run is written once however many actions touch it, so a Parallel of 100
    costs the statements a single task costs. The caller sends ``attempts`` after commit
    (but ``kept``) and then runs ``apply_after_writes``.

    ``keep`` (the worker's eager continuation) is shown the new attempts whose task run this
    plan writes, before anything is written, and may mark one claimed in memory (attempt
    and run RUNNING): it is then inserted claimed, at no extra statement, and is ``kept``.
    """
    ctx = ApplyContext(execution, now, masker)
    appliers = _APPLIERS
    for action in plan.actions:
        try:
            apply = appliers[type(action)]
        except KeyError:
            raise NoApplier(type(action)) from None
        apply(action, ctx)
    if keep is not None and ctx.attempts:
        ctx.kept = keep([a for a in ctx.attempts if a.task_run_id in ctx.created
                         or a.task_run_id in ctx.changed])  # fmt: skip
    for run in ctx.ended_with_attempts:  # the ORM: before the batch below
        end_subflow_attempt(run, State(run.state), now)
    execution.due_at = plan.due_at
    execution.version += 1
    if ctx.settled:
        execution.settled_version = execution.version
    # On PostgreSQL these writes go in one round trip; the attempts' insert, whose keys are
    # read back, comes last and carries the others (rows.batched).
    with rows.batched():
        rows.create(list(ctx.created.values()))
        for run in ctx.changed.values():
            rows.save_fields(run, _RUN_FIELDS, counted=False)
        if ctx.logs:
            rows.insert(LogEntry, _LOG_FIELDS, ([getattr(e, n) for n in _LOG_FIELDS]
                                                for e in ctx.logs))  # fmt: skip
        rows.save_fields(execution, _EXECUTION_FIELDS, counted=False)
        rows.create(ctx.attempts)
    return ctx


def apply_after_writes(ctx: ApplyContext) -> None:
    """Run the after-writes appliers of the plan ``ctx`` applied, in plan order."""
    for action in ctx.later:
        _AFTER_WRITES[type(action)](action, ctx)


# -- the plan phase ------------------------------------------------------------------------


@applies(CreateTaskRun)
def _create_task_run(action: CreateTaskRun, ctx: ApplyContext) -> None:
    now = ctx.now
    run = TaskRun(
        id=action.id,
        execution=ctx.execution,
        task_id=action.task_id,
        parent_id=action.parent_id,
        value=taint.seal(action.value),
        iteration=action.iteration,
        state=action.state,
        state_history=_initial_history(action.state, now),
        decision=taint.seal(dict(action.decision or {})),
        outputs=taint.seal(dict(action.outputs or {})),
        queue=action.queue,
        seq=action.seq or ctx.next_seq,
        due_at=action.due_at,
        started_at=now,
        ended_at=now if action.state in TERMINAL else None,
    )
    ctx.next_seq = run.seq + 1
    ctx.runs[run.id] = run
    ctx.created[run.id] = run
    if action.dispatch:
        ctx.queue_attempt(run, action.queue)


def _initial_history(state: State, now: datetime) -> list[dict[str, Any]]:
    """CREATED, then the state the run starts in; a run created PAUSED was RUNNING first
    (as in Kestra, whose Pause runs, then pauses)."""
    steps = [State.CREATED]
    if state == State.PAUSED:
        steps.append(State.RUNNING)
    if state != State.CREATED:
        steps.append(state)
    return [history_entry(s, now) for s in steps]


@applies(SetTaskRunState)
def _set_task_run_state(action: SetTaskRunState, ctx: ApplyContext) -> None:
    run = ctx.run_of(action.id)
    fresh = run.id in ctx.created
    ctx.settled = ctx.settled or (not fresh and run.state in TERMINAL)
    set_task_run_state(run, action.state, ctx.now, via=action.via)
    run.due_at = action.due_at
    if action.outputs is not None:
        run.outputs = taint.seal(dict(action.outputs))
    if action.decision is not None:
        run.decision = taint.seal(dict(action.decision))
    ended = action.state in TERMINAL
    run.ended_at = ctx.now if ended else None
    if not fresh:
        ctx.changed[run.id] = run
    if ended and run.attempts:
        ctx.ended_with_attempts.append(run)


@applies(Dispatch)
def _dispatch(action: Dispatch, ctx: ApplyContext) -> None:
    ctx.queue_attempt(ctx.run_of(action.task_run_id), action.queue)


@applies(SetExecutionState)
def _set_execution_state(action: SetExecutionState, ctx: ApplyContext) -> None:
    set_execution_state(ctx.execution, action.state, ctx.now)
    if action.outputs is not None:
        ctx.execution.outputs = taint.seal(dict(action.outputs))


@applies(SetLabels)
def _set_labels(action: SetLabels, ctx: ApplyContext) -> None:
    execution = ctx.execution
    execution.labels = {**(execution.labels or {}), **taint.shown_form(action.labels)}
    sync_label_rows(execution)


@applies(LogLine)
def _log_line(action: LogLine, ctx: ApplyContext) -> None:
    runs = ctx.runs
    ctx.logs.append(
        LogEntry(
            execution=ctx.execution,
            task_run_id=action.task_run_id,
            task_id=runs[action.task_run_id].task_id if action.task_run_id in runs else "",
            timestamp=ctx.now,
            level=action.level,
            message=_masked(action.message, ctx.masker),
        )
    )


def _masked(message: str, masker: Masker | None) -> str:
    text = taint.shown_form(message)
    return masker.mask(text) if masker is not None else text


@applies(WakeAt)
def _wake_at(action: WakeAt, ctx: ApplyContext) -> None:
    """Nothing to write: the engine folds every wake-up into ``Plan.due_at``, which
    ``apply_plan`` writes on the execution row (the sweeper wakes it then)."""


# -- the after-writes phase ----------------------------------------------------------------


@applies(StartSubflow, after_writes=True)
def _start_subflow(action: StartSubflow, ctx: ApplyContext) -> None:
    start_subflow(ctx.execution, action)


@applies(StartItemSubflows, after_writes=True)
def _start_item_subflows(action: StartItemSubflows, ctx: ApplyContext) -> None:
    start_item_subflows(ctx.execution, action)


@applies(ResumeExecution, after_writes=True)
def _resume_execution(action: ResumeExecution, ctx: ApplyContext) -> None:
    resume_other(action)


check_covered(ACTIONS)

"""The only writer of run state on the executor side: snapshot in, plan out to the database.

``load_snapshot`` turns rows into the engine's frozen data; ``apply_plan`` writes a plan's
actions in the caller's transaction (the execution row is locked by the caller) and returns
the attempts to send once that transaction has committed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from django.db import connection

from executions.models import Execution, ExecutionLabel, LogEntry, TaskRun, TaskRunAttempt
from executions.runtime import rows
from executions.runtime.states import history_entry, set_execution_state, set_task_run_state
from kernel import taint
from kernel.engine.plan import (
    CreateTaskRun,
    Dispatch,
    LogLine,
    Plan,
    ResumeExecution,
    SetExecutionState,
    SetLabels,
    SetTaskRunState,
    StartSubflow,
)
from kernel.engine.snapshot import ExecutionSnapshot, TaskRunSnapshot
from kernel.secrets import SEAL_PREFIX, Masker
from kernel.states import TERMINAL, State


def end_subflow_attempt(run: TaskRun, state: State, now: datetime) -> None:
    """A Subflow run ended by the engine (killed, timed out): its attempt, the child
    execution (owner ``execution:<id>``), ends with it."""
    TaskRunAttempt.objects.filter(
        task_run=run, state=State.RUNNING, owner__startswith="execution:"
    ).update(state=state, ended_at=now)  # an attempt: see executions.runtime.states


#: Columns of a task run the engine sees. JSON columns are read as text on both backends
#: and decoded here; dates go through the backend's converter only where it has one (SQLite).
_SNAPSHOT_FIELDS = (
    "id", "task_id", "parent_id", "value", "iteration", "state", "attempts", "outputs",
    "decision", "due_at", "started_at", "seq", "retry_at",
)  # fmt: skip
_DATES = tuple(_SNAPSHOT_FIELDS.index(n) for n in ("due_at", "started_at", "retry_at"))
_STATES = {str(s): s for s in State}
_EMPTY_JSON = ("{}", "", None)


def _opened(text: Any) -> Any:
    """A JSON column as the engine sees it: values sealed at rest (issue 21, see
    kernel.taint) opened and marked again; the text is searched first, so a run
    without sealed values costs nothing more."""
    if isinstance(text, str) and SEAL_PREFIX not in text:
        return _json(text)
    return taint.unseal(_json(text))


def _json(text: Any) -> Any:
    if not isinstance(text, str):  # a driver that decodes JSON itself
        return text or {}
    return {} if text in _EMPTY_JSON else json.loads(text)


def _run_rows(where: str, params: Sequence[Any]) -> list[TaskRunSnapshot]:
    """The task runs matching ``where`` (SQL over alias ``t``), in creation order."""
    sql = (
        f"SELECT {rows.select_list(TaskRun, 't', _SNAPSHOT_FIELDS)} FROM {rows.table(TaskRun)} t "
        f"WHERE {where} ORDER BY t.seq"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        found = cursor.fetchall()
    dates = [(i, rows.reader(TaskRun, _SNAPSHOT_FIELDS[i])) for i in _DATES]
    if any(read for _, read in dates):
        found = [list(r) for r in found]
        for r in found:
            for i, read in dates:
                if read is not None:
                    r[i] = read(r[i])
    return [
        TaskRunSnapshot(
            id=r[0], task_id=r[1], parent_id=r[2], value=taint.unseal(r[3]), iteration=r[4],
            state=_STATES[r[5]], attempts=r[6], outputs=_opened(r[7]) or {},
            decision=_opened(r[8]) or {}, due_at=r[9], started_at=r[10], seq=r[11],
            retry_at=r[12],
        )
        for r in found
    ]  # fmt: skip


def _all_runs(execution: Execution) -> list[TaskRunSnapshot]:
    return _run_rows("t.execution_id = %s", [execution.id])


def run_snapshot(run: TaskRun) -> TaskRunSnapshot:
    """A task run just written, as ``load_snapshot`` would read it back (JSON normalised)."""
    return TaskRunSnapshot(
        id=run.id, task_id=run.task_id, parent_id=run.parent_id, value=taint.unseal(run.value),
        iteration=run.iteration, state=State(run.state), attempts=run.attempts,
        outputs=_normalised(run.outputs), decision=_normalised(run.decision),
        due_at=run.due_at, started_at=run.started_at, seq=run.seq, retry_at=run.retry_at,
    )  # fmt: skip


def _normalised(value: Any) -> Any:
    return _opened(json.dumps(value)) if value else {}


def load_snapshot(
    execution: Execution,
    lineage_of: str | TaskRun | None = None,
    *,
    known: Sequence[TaskRunSnapshot] | None = None,
) -> ExecutionSnapshot:
    """The execution and its task runs as plain data (one query, no model instances: this
    runs on every hop, so it stays cheap as executions grow).

    ``lineage_of`` (a task run or its id): only that run and its ancestors (enough for
    ``taskrun`` and ``parents``). ``known``: the task runs as this process last saw them,
    valid for the execution's current ``version`` (``executions.runtime.snapshot_cache``); then only
    the runs that may have moved since are read: those not ended in ``known``, and newer ones.
    """
    if lineage_of is not None:
        runs = _lineage(execution, lineage_of)
    elif known is not None:
        runs = _refreshed(execution, known)
        if os.environ.get("TRELLIS_CHECK_SNAPSHOTS"):
            _check_refreshed(execution, runs)
    else:
        runs = _all_runs(execution)
    return snapshot_of(execution, runs)


def snapshot_of(execution: Execution, runs: Sequence[TaskRunSnapshot]) -> ExecutionSnapshot:
    return ExecutionSnapshot(
        id=execution.id,
        namespace=execution.namespace,
        flow_id=execution.flow_id,
        flow_revision=execution.flow_revision,
        state=State(execution.state),
        inputs=execution.inputs or {},
        labels=execution.labels or {},
        variables=execution.variables or {},
        trigger=execution.trigger,
        task_runs=tuple(runs),
        started_at=execution.started_at,
        outputs=_opened(execution.outputs) or {},
    )


def _refreshed(execution: Execution, known: Sequence[TaskRunSnapshot]) -> list[TaskRunSnapshot]:
    """``known`` with its unfinished runs read again and newer runs added; a full read when
    an unfinished run has gone (only a service deletes runs, and it bumps the version)."""
    moving = [r.id for r in known if r.state not in TERMINAL]
    newest = max((r.seq for r in known), default=-1)
    # Each branch on its own index (primary key; execution + seq), so the database does not
    # walk every run of the execution to find the few that moved.
    newer = "(t.execution_id = %s AND t.seq > %s)"
    if moving:
        marks = ", ".join(["%s"] * len(moving))
        fresh = _run_rows(f"t.id IN ({marks}) OR {newer}", [*moving, execution.id, newest])
    else:
        fresh = _run_rows(newer, [execution.id, newest])
    by_id = {r.id: r for r in known}
    seen = {r.id for r in fresh}
    if any(run_id not in seen for run_id in moving):
        return _all_runs(execution)
    for run in fresh:
        by_id[run.id] = run
    return sorted(by_id.values(), key=lambda r: r.seq)


class StaleSnapshot(AssertionError):
    """An incremental snapshot differs from a full read: a writer broke the rule that
    ``executions.runtime.snapshot_cache`` relies on."""


def _check_refreshed(execution: Execution, runs: Sequence[TaskRunSnapshot]) -> None:
    """With ``TRELLIS_CHECK_SNAPSHOTS`` set (tests), compare with a full read."""
    full = {r.id: r for r in _all_runs(execution)}
    mine = {r.id: r for r in runs}
    if full != mine:
        wrong = sorted(set(full) ^ set(mine)) + [
            f"{i}: {mine[i]} != {full[i]}" for i in full.keys() & mine.keys() if full[i] != mine[i]
        ]
        raise StaleSnapshot(f"execution {execution.id} (version {execution.version}): {wrong}")


def _lineage(execution: Execution, run: str | TaskRun) -> list[TaskRunSnapshot]:
    """The run and its ancestors, outermost first: one query per level above the run when
    the run itself is given (a worker has it), one more when only its id is."""
    if isinstance(run, TaskRun):
        chain, parent = [run_snapshot(run)], run.parent_id
    else:
        chain, parent = [], run
    while parent:
        found = _run_rows("t.execution_id = %s AND t.id = %s", [execution.id, parent])
        if not found:
            break
        chain.append(found[0])
        parent = found[0].parent_id
    return chain[::-1]


def new_attempt(run: TaskRun, queue: str, now: datetime) -> TaskRunAttempt:
    """A QUEUED attempt row, written with the change that dispatches it."""
    return TaskRunAttempt.objects.create(
        task_run=run,
        execution_id=run.execution_id,
        number=run.attempts + 1,
        queue=queue,
        sent_at=now,
    )


class Applied(NamedTuple):
    """What ``apply_plan`` wrote and what is left for the runtime."""

    #: QUEUED attempts to send once the transaction has committed.
    attempts: list[TaskRunAttempt]
    #: Actions on other executions (subflows to start, executions to resume).
    subflows: list[StartSubflow | ResumeExecution]
    #: Every task run created or changed, as written.
    runs: list[TaskRun]


#: Execution columns a plan can change (the rest, inputs and variables above all, stay put).
_EXECUTION_FIELDS = ["state", "state_history", "started_at", "ended_at", "outputs", "labels",
                     "due_at", "version", "settled_version", "updated_at"]  # fmt: skip


#: Every column of a changed task run but its key (what ``save()`` wrote).
_RUN_FIELDS = tuple(n for n in rows.concrete_names(TaskRun) if n != "id")


def apply_plan(
    execution: Execution, plan: Plan, now: datetime, masker: Masker | None = None
) -> Applied:
    """Write ``plan`` for ``execution`` (locked by the caller).

    Values derived from secrets (kernel.taint) never reach a row in clear: loop values,
    decisions and outputs are sealed, labels and log lines masked (with ``masker`` too: the
    secrets the plan's renders read, for messages that lost the mark, issue 21).

    New task runs, their attempts and log lines are inserted in one statement each, and a
    changed task run is written once however many actions touch it, so a Parallel of 100
    costs the statements a single task costs.
    """
    runs: dict[str, TaskRun] = {}
    created: dict[str, TaskRun] = {}
    changed: dict[str, TaskRun] = {}
    ended_with_attempts: list[TaskRun] = []
    attempts: list[TaskRunAttempt] = []
    next_seq = 0
    logs: list[LogEntry] = []
    subflows: list[StartSubflow | ResumeExecution] = []
    settled = False  # an ended run changed: every remembered snapshot is stale

    def run_of(run_id: str) -> TaskRun:
        if run_id not in runs:
            run = rows.get(TaskRun, run_id)
            if run is None or run.execution_id != execution.id:
                raise TaskRun.DoesNotExist(f"task run {run_id} of execution {execution.id}")
            runs[run_id] = run
        return runs[run_id]

    def queue_attempt(run: TaskRun, queue: str) -> None:
        number = run.attempts + 1
        attempts.append(
            TaskRunAttempt(task_run=run, execution_id=execution.id, number=number, queue=queue,
                           sent_at=now)
        )  # fmt: skip

    for action in plan.actions:
        if isinstance(action, CreateTaskRun):
            run = TaskRun(
                id=action.id,
                execution=execution,
                task_id=action.task_id,
                parent_id=action.parent_id,
                value=taint.seal(action.value),
                iteration=action.iteration,
                state=action.state,
                state_history=_initial_history(action.state, now),
                decision=taint.seal(dict(action.decision or {})),
                outputs=taint.seal(dict(action.outputs or {})),
                queue=action.queue,
                seq=action.seq or next_seq,
                due_at=action.due_at,
                started_at=now,
                ended_at=now if action.state in TERMINAL else None,
            )
            next_seq = run.seq + 1
            runs[run.id] = run
            created[run.id] = run
            if action.dispatch:
                queue_attempt(run, action.queue)
        elif isinstance(action, SetTaskRunState):
            run = run_of(action.id)
            settled = settled or (run.id not in created and run.state in TERMINAL)
            set_task_run_state(run, action.state, now, via=action.via)
            run.due_at = action.due_at
            if action.outputs is not None:
                run.outputs = taint.seal(dict(action.outputs))
            if action.decision is not None:
                run.decision = taint.seal(dict(action.decision))
            run.ended_at = now if action.state in TERMINAL else None
            if run.id not in created:
                changed[run.id] = run
            if action.state in TERMINAL and run.attempts:
                ended_with_attempts.append(run)
        elif isinstance(action, Dispatch):
            queue_attempt(run_of(action.task_run_id), action.queue)
        elif isinstance(action, SetExecutionState):
            set_execution_state(execution, action.state, now)
            if action.outputs is not None:
                execution.outputs = taint.seal(dict(action.outputs))
        elif isinstance(action, SetLabels):
            execution.labels = {**(execution.labels or {}), **taint.shown_form(action.labels)}
            sync_label_rows(execution)
        elif isinstance(action, StartSubflow | ResumeExecution):
            subflows.append(action)
        elif isinstance(action, LogLine):
            logs.append(
                LogEntry(
                    execution=execution,
                    task_run_id=action.task_run_id,
                    task_id=runs[action.task_run_id].task_id if action.task_run_id in runs else "",
                    timestamp=now,
                    level=action.level,
                    message=_masked(action.message, masker),
                )
            )
    rows.create(list(created.values()))
    for run in changed.values():
        rows.save_fields(run, _RUN_FIELDS)
    for run in ended_with_attempts:
        end_subflow_attempt(run, State(run.state), now)
    rows.create(attempts)
    if logs:
        LogEntry.objects.bulk_create(logs)
    execution.due_at = plan.due_at
    execution.version += 1
    if settled:
        execution.settled_version = execution.version
    rows.save_fields(execution, _EXECUTION_FIELDS)
    return Applied(attempts, subflows, list(runs.values()))


def _masked(message: str, masker: Masker | None) -> str:
    text = taint.shown_form(message)
    return masker.mask(text) if masker is not None else text


def _initial_history(state: State, now: datetime) -> list[dict[str, Any]]:
    """CREATED, then the state the run starts in; a run created PAUSED was RUNNING first
    (as in Kestra, whose Pause runs, then pauses)."""
    steps = [State.CREATED]
    if state == State.PAUSED:
        steps.append(State.RUNNING)
    if state != State.CREATED:
        steps.append(state)
    return [history_entry(s, now) for s in steps]


def sync_label_rows(execution: Execution, *, new: bool = False) -> None:
    """Mirror ``execution.labels`` into filterable rows (``new``: it has none yet, so there
    is nothing to delete first: one statement less for every execution created)."""
    if not new:
        ExecutionLabel.objects.filter(execution=execution).delete()
    ExecutionLabel.objects.bulk_create(
        ExecutionLabel(execution=execution, key=k, value=str(v))
        for k, v in (execution.labels or {}).items()
    )

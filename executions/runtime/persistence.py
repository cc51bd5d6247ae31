"""Run state on the executor side: rows in as the engine's snapshot, and the row helpers
every writer shares.

``load_snapshot`` turns rows into the engine's frozen data; the writes of a plan are in
``executions.runtime.appliers`` (one applier per action type, run by ``apply_plan``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import connection

from executions.models import Execution, ExecutionLabel, TaskRun, TaskRunAttempt
from executions.runtime import rows
from kernel import taint
from kernel.engine.snapshot import BY_SEQ, ExecutionSnapshot, TaskRunSnapshot
from kernel.secrets import SEAL_PREFIX
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
    return sorted(by_id.values(), key=BY_SEQ)


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


def sync_label_rows(execution: Execution, *, new: bool = False) -> None:
    """Mirror ``execution.labels`` into filterable rows (``new``: it has none yet, so there
    is nothing to delete first: one statement less for every execution created)."""
    if not new:
        ExecutionLabel.objects.filter(execution=execution).delete()
    ExecutionLabel.objects.bulk_create(
        ExecutionLabel(execution=execution, key=k, value=str(v))
        for k, v in (execution.labels or {}).items()
    )

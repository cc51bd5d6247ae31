"""The only writer of run state on the executor side: snapshot in, plan out to the database.

``load_snapshot`` turns rows into the engine's frozen data; ``apply_plan`` writes a plan's
actions in the caller's transaction (the execution row is locked by the caller) and returns
the attempts to send once that transaction has committed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from executions.models import Execution, ExecutionLabel, LogEntry, TaskRun, TaskRunAttempt
from executions.plan import (
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
from executions.snapshot import ExecutionSnapshot, TaskRunSnapshot
from executions.states import TERMINAL, State, check_transition


def end_subflow_attempt(run: TaskRun, state: State, now: datetime) -> None:
    """A Subflow run ended by the engine (killed, timed out): its attempt, the child
    execution (owner ``execution:<id>``), ends with it."""
    TaskRunAttempt.objects.filter(
        task_run=run, state=State.RUNNING, owner__startswith="execution:"
    ).update(state=state, ended_at=now)


def history_entry(state: State | str, now: datetime) -> dict[str, str]:
    return {"state": str(state), "date": now.isoformat().replace("+00:00", "Z")}


_SNAPSHOT_FIELDS = (
    "id", "task_id", "parent_id", "value", "iteration", "state", "attempts", "outputs",
    "decision", "due_at", "started_at", "seq", "retry_at",
)  # fmt: skip


def load_snapshot(execution: Execution, lineage_of: str | None = None) -> ExecutionSnapshot:
    """The execution and its task runs as plain data (one query, no model instances: this
    runs on every hop, so it stays cheap as executions grow). With ``lineage_of``, only that
    task run and its ancestors are loaded (enough for ``taskrun`` and ``parents``)."""
    rows = TaskRun.objects.filter(execution=execution)
    if lineage_of is not None:
        rows = rows.filter(pk__in=_lineage(lineage_of))
    rows = rows.values_list(*_SNAPSHOT_FIELDS)
    runs = tuple(
        TaskRunSnapshot(
            id=r[0], task_id=r[1], parent_id=r[2], value=r[3], iteration=r[4],
            state=State(r[5]), attempts=r[6], outputs=r[7] or {}, decision=r[8] or {},
            due_at=r[9], started_at=r[10], seq=r[11], retry_at=r[12],
        )
        for r in rows
    )  # fmt: skip
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
        task_runs=runs,
        started_at=execution.started_at,
        outputs=execution.outputs or {},
    )


def _lineage(run_id: str) -> list[str]:
    ids, current = [], run_id
    while current:
        ids.append(current)
        current = TaskRun.objects.filter(pk=current).values_list("parent_id", flat=True).first()
    return ids


def set_execution_state(execution: Execution, state: State, now: datetime) -> None:
    """Move the execution (in memory; the caller saves) and record the change."""
    check_transition(State(execution.state), state, f"execution {execution.id}")
    execution.state = state
    execution.state_history = [*execution.state_history, history_entry(state, now)]
    if state == State.RUNNING and execution.started_at is None:
        execution.started_at = now
    execution.ended_at = now if state in TERMINAL else None


def new_attempt(run: TaskRun, queue: str, now: datetime) -> TaskRunAttempt:
    """A QUEUED attempt row, written with the change that dispatches it."""
    return TaskRunAttempt.objects.create(
        task_run=run,
        execution_id=run.execution_id,
        number=run.attempts + 1,
        queue=queue,
        sent_at=now,
    )


def apply_plan(
    execution: Execution, plan: Plan, now: datetime
) -> tuple[list[TaskRunAttempt], list[StartSubflow | ResumeExecution]]:
    """Write ``plan`` for ``execution`` (locked by the caller); returns attempts to send and
    the actions on other executions (subflows to start, executions to resume), which need
    the runtime once these rows exist."""
    runs: dict[str, TaskRun] = {}
    to_send: list[TaskRunAttempt] = []
    next_seq = 0
    logs: list[LogEntry] = []
    subflows: list[StartSubflow | ResumeExecution] = []

    def run_of(run_id: str) -> TaskRun:
        if run_id not in runs:
            runs[run_id] = TaskRun.objects.get(id=run_id, execution=execution)
        return runs[run_id]

    for action in plan.actions:
        if isinstance(action, CreateTaskRun):
            run = TaskRun.objects.create(
                id=action.id,
                execution=execution,
                task_id=action.task_id,
                parent_id=action.parent_id,
                value=action.value,
                iteration=action.iteration,
                state=action.state,
                state_history=_initial_history(action.state, now),
                decision=dict(action.decision or {}),
                outputs=dict(action.outputs or {}),
                queue=action.queue,
                seq=action.seq or next_seq,
                due_at=action.due_at,
                started_at=now,
                ended_at=now if action.state in TERMINAL else None,
            )
            next_seq = run.seq + 1
            runs[run.id] = run
            if action.dispatch:
                to_send.append(new_attempt(run, action.queue, now))
        elif isinstance(action, SetTaskRunState):
            run = run_of(action.id)
            if run.state != action.state:
                check_transition(State(run.state), action.state, f"task run {run.task_id}")
                run.state = action.state
                run.state_history = [*run.state_history, history_entry(action.state, now)]
            run.due_at = action.due_at
            if action.outputs is not None:
                run.outputs = dict(action.outputs)
            if action.decision is not None:
                run.decision = dict(action.decision)
            run.ended_at = now if action.state in TERMINAL else None
            run.save()
            if action.state in TERMINAL and run.attempts:
                end_subflow_attempt(run, action.state, now)
        elif isinstance(action, Dispatch):
            to_send.append(new_attempt(run_of(action.task_run_id), action.queue, now))
        elif isinstance(action, SetExecutionState):
            set_execution_state(execution, action.state, now)
            if action.outputs is not None:
                execution.outputs = dict(action.outputs)
        elif isinstance(action, SetLabels):
            execution.labels = {**(execution.labels or {}), **action.labels}
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
                    message=action.message,
                )
            )
    if logs:
        LogEntry.objects.bulk_create(logs)
    execution.due_at = plan.due_at
    execution.version += 1
    execution.save()
    return to_send, subflows


def _initial_history(state: State, now: datetime) -> list[dict[str, Any]]:
    """CREATED, then the state the run starts in; a run created PAUSED was RUNNING first
    (as in Kestra, whose Pause runs, then pauses)."""
    steps = [State.CREATED]
    if state == State.PAUSED:
        steps.append(State.RUNNING)
    if state != State.CREATED:
        steps.append(state)
    return [history_entry(s, now) for s in steps]


def sync_label_rows(execution: Execution) -> None:
    """Mirror ``execution.labels`` into filterable rows."""
    ExecutionLabel.objects.filter(execution=execution).delete()
    ExecutionLabel.objects.bulk_create(
        ExecutionLabel(execution=execution, key=k, value=str(v))
        for k, v in (execution.labels or {}).items()
    )

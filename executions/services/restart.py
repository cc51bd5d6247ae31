"""Restarting a failed execution, or replaying one from a task run as a new execution."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction

from access.policy import Action, check
from executions.errors import ExecutionError
from executions.models import Execution, TaskRun
from executions.models import new_id as fresh_id
from executions.runtime.dispatch import wake_executor
from executions.runtime.loading import execution_flow_spec
from executions.runtime.persistence import sync_label_rows
from executions.runtime.states import history_entry, set_execution_state
from executions.services.common import lock_row, move_run, save_written
from flows.models import FlowRevision
from kernel.clock import now
from kernel.engine.replay import replay_plan
from kernel.plugin import FlowableTask
from kernel.registry import registry
from kernel.states import TERMINAL, State, check_task_run_transition

RESTARTABLE = (State.FAILED, State.KILLED, State.WARNING)


def execution_restart(
    execution: Execution, *, revision: int | None = None, actor: Any = None
) -> Execution:
    """Run a FAILED (or KILLED) execution again from its failed task runs.

    Failed runnable task runs get a new attempt; their failed parents run again; what the
    ``errors`` and ``finally`` branches did is cleared so they run again if needed. With
    ``revision`` (Kestra's restart on another revision), the restart happens on a copy of
    the execution that runs that revision of the flow; the original stays as it ended.
    """
    check(actor, execution.namespace, Action.EXECUTE)
    if revision is None:
        return _restart(execution)
    with transaction.atomic():
        return _restart(_copy_on_revision(execution, revision))


def _restartable(execution: Execution) -> None:
    if execution.state not in RESTARTABLE:
        raise ExecutionError(
            f"execution {execution.id} is {execution.state}: only a FAILED, KILLED or WARNING "
            "execution restarts"
        )


def _copy_on_revision(execution: Execution, revision: int) -> Execution:
    """A new execution, as ``execution`` ended, on ``revision`` of its flow (caller: a
    transaction). The task runs are copied with new ids; nothing is woken yet."""

    _restartable(execution)
    known = FlowRevision.objects.filter(
        flow__namespace__name=execution.namespace, flow__flow_id=execution.flow_id,
        revision=revision, deleted=False,
    )  # fmt: skip
    if not known.exists():
        raise ExecutionError(
            f"flow {execution.namespace}.{execution.flow_id} has no revision {revision}"
        )
    runs = list(TaskRun.objects.filter(execution=execution).order_by("seq"))
    return _clone(
        execution, flow_revision=revision, state=State(execution.state),
        state_history=execution.state_history, runs=runs,
    )  # fmt: skip


def _restart(execution: Execution) -> Execution:
    """The body of :func:`execution_restart`, in place."""

    with transaction.atomic():
        locked = lock_row(execution)
        _restartable(locked)
        spec = execution_flow_spec(locked)
        handlers = {t.id for g in (spec.errors, spec.finally_) for r in g for t in r.walk()}
        for task in (t for g in (spec.tasks,) for r in g for t in r.walk()):
            for key in ("errors", "finally"):
                handlers |= {x.id for c in task.children.get(key, ()) for x in c.walk()}
        runs = {r.id: r for r in TaskRun.objects.filter(execution=locked)}
        TaskRun.objects.filter(
            id__in=[r.id for r in runs.values() if r.task_id in handlers]
        ).delete()
        runs = {k: r for k, r in runs.items() if r.task_id not in handlers}
        failed = [
            r
            for r in runs.values()
            if r.state in (State.FAILED, State.KILLED)
            and not any(c.parent_id == r.id for c in runs.values())
        ]
        if not failed:
            raise ExecutionError(f"execution {locked.id} has no failed task run to restart")
        kinds = {
            t.id: registry.get(t.type).kind for g in (spec.tasks,) for r in g for t in r.walk()
        }
        for run in failed:
            if kinds.get(run.task_id) == "flowable":
                run.delete()  # the engine creates it again and decides anew
            else:
                move_run(run, State.RESTARTED, via="restart")  # the engine sends its new attempt
            parent = runs.get(run.parent_id) if run.parent_id else None
            while parent is not None:
                if parent.state in TERMINAL:
                    # As Kestra: the parents run again.
                    move_run(parent, State.RUNNING, via="restart")
                parent = runs.get(parent.parent_id) if parent.parent_id else None
        set_execution_state(locked, State.RESTARTED, now(), via="restart")
        locked.outputs = {}
        save_written(locked)
        wake_executor(locked.id)
    return locked


def execution_replay(
    execution: Execution, task_run_id: str | None = None, *, actor: Any = None
) -> Execution:
    """A new execution of the same flow revision and inputs, starting again at ``task_run_id``
    (from the start when None); which task runs are kept is ``kernel.engine.replay``'s rule."""

    check(actor, execution.namespace, Action.EXECUTE)
    if execution.state not in TERMINAL:
        raise ExecutionError(
            f"execution {execution.id} is {execution.state}; replay a finished one"
        )
    runs = list(TaskRun.objects.filter(execution=execution).order_by("seq"))
    by_id = {r.id: r for r in runs}
    keep: list[TaskRun] = []
    restart: frozenset[str] = frozenset()
    flowable: set[str] = set()
    if task_run_id is not None:
        if task_run_id not in by_id:
            raise ExecutionError(f"execution {execution.id} has no task run {task_run_id}")

        spec = execution_flow_spec(execution)
        plan = replay_plan(spec, runs, task_run_id)
        keep, restart = [by_id[i] for i in plan.keep], plan.restart
        flowable = {
            r for r in restart
            if issubclass(registry.get(spec.task(by_id[r].task_id).type), FlowableTask)
        }  # fmt: skip
    moment = now()
    changes: dict[str, dict[str, Any]] = {}
    for run_id in restart:
        # As Kestra: the replayed runnable is RESTARTED (the engine sends it a new attempt),
        # the flowables above it RUNNING (they plan their children again).
        state = State.RUNNING if run_id in flowable else State.RESTARTED
        # The copy is a new row, but it moves on from the original's state: checked.
        check_task_run_transition(by_id[run_id].state, state, f"task run {run_id}", via="replay")
        changes[run_id] = {
            "state": state, "state_history": [*by_id[run_id].state_history,
                                              history_entry(state, moment)],
            "outputs": {}, "started_at": moment, "ended_at": None,
        }  # fmt: skip
    with transaction.atomic():
        replay = _clone(
            execution, flow_revision=execution.flow_revision,
            state=State.RESTARTED if task_run_id else State.CREATED,
            # From a task run: the original's history, then RESTARTED; from the start: new.
            state_history=[*execution.state_history, history_entry(State.RESTARTED, moment)]
            if task_run_id else [history_entry(State.CREATED, moment)],
            runs=keep, changes=changes,
        )  # fmt: skip
        wake_executor(replay.id)
    return replay


def _clone(
    execution: Execution,
    *,
    flow_revision: int,
    state: State,
    state_history: list[dict[str, str]],
    runs: list[TaskRun],
    changes: Mapping[str, Mapping[str, Any]] | None = None,
) -> Execution:
    """A new execution of ``execution``'s flow with its inputs, labels and trigger, marked
    as coming from it (``replayed_from``), holding copies of ``runs`` (in order, new ids);
    ``changes`` overrides fields of some of them by original id. Caller: a transaction."""

    copy = Execution.objects.create(
        id=fresh_id(), namespace=execution.namespace, flow_id=execution.flow_id,
        flow_revision=flow_revision, state=state, state_history=state_history,
        inputs=execution.inputs, labels=execution.labels, variables=execution.variables,
        trigger=execution.trigger, parent_execution=execution.parent_execution,
        original_id=execution.original_id or execution.id, replayed_from=execution.id,
    )  # fmt: skip
    sync_label_rows(copy, new=True)
    ids = {r.id: fresh_id() for r in runs}
    TaskRun.objects.bulk_create(
        TaskRun(**{
            "id": ids[r.id], "execution": copy, "task_id": r.task_id,
            "parent_id": ids.get(r.parent_id) if r.parent_id else None, "value": r.value,
            "iteration": r.iteration, "state": r.state, "state_history": r.state_history,
            "outputs": r.outputs, "decision": r.decision, "queue": r.queue, "seq": seq,
            "attempts": r.attempts, "started_at": r.started_at, "ended_at": r.ended_at,
            **(changes or {}).get(r.id, {}),
        })
        for seq, r in enumerate(runs, start=1)
    )  # fmt: skip
    return copy


#: States a user may set on a task run by hand.

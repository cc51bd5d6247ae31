"""Use cases on executions: create (run a flow), kill, wait. Adapters (API, admin, CLI,
triggers) call these; none of them writes run state itself.

Every use case takes ``actor``: the acting user, who needs execute access to the execution's
namespace (``access.policy.AccessDenied`` otherwise), or None for a trusted caller (CLI,
triggers, the executor).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from django.db import transaction

from access.policy import Action, check
from executions.errors import ExecutionError
from executions.models import Execution, TaskRun, new_id
from executions.models import new_id as fresh_id
from executions.runtime.children import CORRELATION_LABEL
from executions.runtime.dispatch import wake_executor
from executions.runtime.loading import execution_flow_spec
from executions.runtime.persistence import history_entry, set_execution_state, sync_label_rows
from flows.models import Flow, FlowRevision
from flows.selectors import flow_spec
from kernel.clock import now
from kernel.engine.replay import replay_plan
from kernel.inputs import InputsError, coerce_inputs
from kernel.plugin import FlowableTask
from kernel.registry import registry
from kernel.spec.model import InputSpec
from kernel.states import TERMINAL, State, check_transition
from kernel.taint import seal, shown_form
from orchestrator.storage import default_storage

__all__ = [
    "ExecutionError",
    "InputsError",
    "execution_change_status",
    "execution_create",
    "execution_force_run",
    "execution_kill",
    "execution_replay",
    "execution_restart",
    "execution_resume",
    "execution_set_labels",
    "execution_unqueue",
    "execution_wait",
    "task_run_set_state",
]


def _store_file(namespace: str, flow_id: str, execution_id: str):  # noqa: ANN202
    def store(input_id: str, upload: Any) -> str:
        name = getattr(upload, "name", None) or input_id
        data = upload.read() if hasattr(upload, "read") else upload
        if isinstance(data, str):
            data = data.encode()
        return default_storage().put_input(
            namespace, flow_id, execution_id, input_id, str(name).rsplit("/", 1)[-1], data
        )

    return store


def execution_create(
    *,
    flow: Flow,
    inputs: Mapping[str, Any] | None = None,
    files: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
    revision: int | None = None,
    trigger: Mapping[str, Any] | None = None,
    parent: tuple[Execution, str] | None = None,
    scheduled_at: datetime | None = None,
    validate_inputs: bool = True,
    actor: Any = None,
) -> Execution:
    """A new CREATED execution of ``flow`` (its current revision unless ``revision``).

    Inputs are typed and checked first: bad input raises InputsError and creates nothing
    (``validate_inputs=False`` stores them as given, for trusted callers).
    The executor is woken once the row is committed.
    """
    check(actor, flow.namespace.name, Action.EXECUTE)
    if flow.deleted:
        raise ExecutionError(f"flow {flow} is deleted")
    if flow.disabled and trigger is None:
        raise ExecutionError(f"flow {flow} is disabled")
    if revision is not None and not flow.revisions.filter(revision=revision).exists():
        raise ExecutionError(f"flow {flow} has no revision {revision}")
    spec = flow_spec(flow, revision=revision)
    execution_id = new_id()
    if validate_inputs:
        try:
            typed = coerce_inputs(
                spec.inputs,
                dict(inputs or {}),
                files=files,
                store_file=_store_file(spec.namespace, spec.id, execution_id),
            )
        except Exception:
            # Bad input changes nothing: drop files stored for the inputs before it (issue 9).
            from orchestrator.storage import default_storage

            default_storage().delete_execution(spec.namespace, spec.id, execution_id)
            raise
    else:  # trusted callers (the Kestra compatibility runner's "raw" inputs, triggers)
        typed = seal(dict(inputs or {}))  # what came from a secret stays sealed (issue 21)
    moment = now()
    # A label is shown everywhere: one set from a secret is stored masked (issue 21).
    merged = {**spec.labels, **{k: str(v) for k, v in shown_form(dict(labels or {})).items()}}
    # Kestra's system label tying an execution to the chain it belongs to (subflows pass
    # theirs down through labels).
    merged.setdefault(CORRELATION_LABEL, execution_id)
    with transaction.atomic():
        execution = Execution.objects.create(
            id=execution_id,
            namespace=spec.namespace,
            flow_id=spec.id,
            flow_revision=revision or flow.revision,
            state=State.CREATED,
            state_history=[history_entry(State.CREATED, moment)],
            inputs=typed,
            labels=merged,
            variables=dict(spec.variables),
            trigger=seal(dict(trigger)) if trigger else None,  # a Flow trigger's outputs
            parent_execution=parent[0] if parent else None,
            parent_task_run_id=parent[1] if parent else None,
            due_at=scheduled_at,
        )
        sync_label_rows(execution, new=True)
        if scheduled_at is None or scheduled_at <= moment:
            wake_executor(execution.id)
    return execution


def execution_kill(execution: Execution, *, actor: Any = None) -> Execution:
    """Ask a running execution to stop: KILLING now, KILLED once everything has stopped."""
    check(actor, execution.namespace, Action.EXECUTE)
    with transaction.atomic():
        locked = Execution.objects.select_for_update().get(pk=execution.pk)
        if locked.state in TERMINAL or locked.state == State.KILLING:
            return locked
        set_execution_state(locked, State.KILLING, now())
        locked.held = False
        _save_written(locked)
        wake_executor(locked.id)
        for child in Execution.objects.filter(parent_execution=locked):
            execution_kill(child)
    return locked


def execution_wait(execution_id: str, timeout: float = 60.0, poll: float = 0.1) -> Execution:
    """Block until the execution is terminal (or ``timeout`` seconds pass); returns it."""
    deadline = time.monotonic() + timeout
    while True:
        execution = Execution.objects.get(pk=execution_id)
        if execution.state in TERMINAL or time.monotonic() >= deadline:
            return execution
        time.sleep(poll)


def _locked(execution: Execution) -> Execution:
    return Execution.objects.select_for_update().get(pk=execution.pk)


def _save_written(locked: Execution) -> None:
    """Save an execution a service changed (row locked): a new ``version`` for readers, and
    ``settled_version`` with it, since a service may rewrite ended task runs, so every
    executor process's remembered runs are stale (``executions/runtime/snapshot_cache.py``)."""
    locked.version += 1
    locked.settled_version = locked.version
    locked.save()


def _move_run(run: TaskRun, *states: State, outputs: dict | None = None) -> None:
    moment = now()
    for state in states:
        check_transition(State(run.state), state, f"task run {run.task_id}")
        run.state = state
        run.state_history = [*run.state_history, history_entry(state, moment)]
    if outputs is not None:
        run.outputs = {**(run.outputs or {}), **outputs}
    run.ended_at = moment if run.state in TERMINAL else None
    run.save()


def _store_resume_files(execution: Execution) -> tuple[Callable[[str, Any], str], dict[str, str]]:
    """``(store, stored)``: ``store`` keeps each uploaded file of a resume once, where
    :func:`execution_create` keeps FILE inputs (every paused run is answered from the same
    uploads); ``stored`` maps input ids to the URIs written, for clean-up on refusal."""
    store = _store_file(execution.namespace, execution.flow_id, execution.id)
    stored: dict[str, str] = {}

    def once(input_id: str, upload: Any) -> str:
        if input_id not in stored:
            stored[input_id] = store(input_id, upload)
        return stored[input_id]

    return once, stored


def execution_resume(
    execution: Execution,
    inputs: Mapping[str, Any] | None = None,
    *,
    files: Mapping[str, Any] | None = None,
    actor: Any = None,
) -> Execution:
    """Resume a PAUSED execution; ``inputs`` (and uploaded ``files``, by input id) answer the
    Pause's ``onResume`` declarations.

    Bad inputs raise InputsError and change nothing: files already stored are deleted again.
    """
    check(actor, execution.namespace, Action.EXECUTE)
    store, stored = _store_resume_files(execution)
    try:
        return _resume(execution, inputs, files, store)
    except Exception:
        for uri in stored.values():
            default_storage().delete(uri)
        raise


def _resume(
    execution: Execution,
    inputs: Mapping[str, Any] | None,
    files: Mapping[str, Any] | None,
    store: Callable[[str, Any], str],
) -> Execution:
    """The body of :func:`execution_resume` (its caller cleans up the stored files)."""

    with transaction.atomic():
        locked = _locked(execution)
        if locked.state != State.PAUSED:
            raise ExecutionError(f"execution {locked.id} is {locked.state}, not PAUSED")
        spec = execution_flow_spec(locked)
        tasks = {t.id: t for g in (spec.tasks, spec.errors, spec.finally_) for r in g
                 for t in r.walk()}  # fmt: skip
        paused = list(TaskRun.objects.filter(execution=locked, state=State.PAUSED))
        answers: dict[str, dict] = {}
        for run in paused:
            declared = (
                (tasks.get(run.task_id).properties.get("onResume") or [])
                if run.task_id in tasks
                else []
            )
            specs = [
                InputSpec(
                    d["id"],
                    d.get("type", "STRING"),
                    {k: v for k, v in d.items() if k not in ("id", "type")},
                )
                for d in declared
            ]
            answers[run.id] = (
                coerce_inputs(specs, dict(inputs or {}), files=files, store_file=store)
                if specs
                else {}
            )
        for run in paused:
            _move_run(
                run,
                State.RUNNING,
                outputs={"onResume": answers[run.id]} if answers[run.id] else None,
            )
            run.due_at = None
            run.save(update_fields=["due_at"])
        set_execution_state(locked, State.RUNNING, now())
        locked.held = False
        _save_written(locked)
        wake_executor(locked.id)
    return locked


#: States an execution restarts from.
RESTARTABLE = (State.FAILED, State.KILLED, State.WARNING)


def execution_pause(execution: Execution, *, actor: Any = None) -> Execution:
    """Hold a RUNNING execution (Kestra's pause action): it is PAUSED at once, task runs
    already on a worker finish and record their results, and nothing new starts (no task,
    no retry, no timer) until it is resumed (``execution_resume``, force-run) or killed."""
    check(actor, execution.namespace, Action.EXECUTE)
    with transaction.atomic():
        locked = _locked(execution)
        if locked.state != State.RUNNING:
            raise ExecutionError(
                f"execution {locked.id} is {locked.state}: only a RUNNING execution can be paused"
            )
        set_execution_state(locked, State.PAUSED, now())
        locked.held = True
        _save_written(locked)
    return locked


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
        locked = _locked(execution)
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
                _move_run(run, State.RESTARTED)  # the engine sends its new attempt
            parent = runs.get(run.parent_id) if run.parent_id else None
            while parent is not None:
                if parent.state in TERMINAL:
                    _move_run(parent, State.RUNNING)  # as Kestra: the parents run again
                parent = runs.get(parent.parent_id) if parent.parent_id else None
        set_execution_state(locked, State.RESTARTED, now())
        locked.outputs = {}
        _save_written(locked)
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
SETTABLE_TASK_RUN_STATES = (State.SUCCESS, State.WARNING, State.FAILED)


def task_run_set_state(
    execution: Execution, task_run_id: str, state: State | str, *, actor: Any = None
) -> Execution:
    """Change an ended task run's state by hand; a finished execution is then re-evaluated
    (RESTARTED) so its state and the branches that depend on it follow."""
    check(actor, execution.namespace, Action.EXECUTE)
    try:
        state = State(str(state).upper())
    except ValueError:
        raise ExecutionError(f"unknown state {state!r}") from None
    if state not in SETTABLE_TASK_RUN_STATES:
        allowed = ", ".join(SETTABLE_TASK_RUN_STATES)
        raise ExecutionError(f"a task run can be set to {allowed}, not {state}")
    with transaction.atomic():
        locked = _locked(execution)
        run = TaskRun.objects.select_for_update().filter(execution=locked, pk=task_run_id).first()
        if run is None:
            raise ExecutionError(f"execution {locked.id} has no task run {task_run_id}")
        if run.state not in TERMINAL:
            raise ExecutionError(f"task run {run.task_id} is {run.state}; wait until it ends")
        if run.state == state:
            return locked
        _move_run(run, state)
        parent = TaskRun.objects.filter(pk=run.parent_id).first() if run.parent_id else None
        while parent is not None:
            if parent.state in TERMINAL:
                _move_run(parent, State.RUNNING)
            parent = (
                TaskRun.objects.filter(pk=parent.parent_id).first() if parent.parent_id else None
            )
        if locked.state in TERMINAL:
            set_execution_state(locked, State.RESTARTED, now())
        _save_written(locked)
        wake_executor(locked.id)
    return locked


def execution_force_run(execution: Execution, *, actor: Any = None) -> Execution:
    """Start a CREATED or QUEUED execution now, whatever the flow's concurrency limit; a
    PAUSED one is resumed; a RUNNING one is nudged (its executor woken)."""
    check(actor, execution.namespace, Action.EXECUTE)
    if execution.state == State.PAUSED:
        return execution_resume(execution)
    with transaction.atomic():
        locked = _locked(execution)
        if locked.state == State.RUNNING:
            wake_executor(locked.id)
            return locked
        if locked.state not in (State.CREATED, State.QUEUED):
            raise ExecutionError(
                f"execution {locked.id} is {locked.state}: only CREATED, QUEUED, PAUSED or "
                "RUNNING executions can be forced to run"
            )
        set_execution_state(locked, State.RUNNING, now())
        _save_written(locked)
        wake_executor(locked.id)
    return locked


def execution_unqueue(
    execution: Execution, state: State | str = State.CANCELLED, *, actor: Any = None
) -> Execution:
    """Take a QUEUED execution out of its queue: RUNNING starts it now, CANCELLED or KILLED
    ends it."""
    check(actor, execution.namespace, Action.EXECUTE)
    try:
        target = State(str(state).upper())
    except ValueError:
        raise ExecutionError(f"unknown state {state!r}") from None
    if target not in (State.RUNNING, State.CANCELLED, State.KILLED):
        raise ExecutionError(f"unqueue to RUNNING, CANCELLED or KILLED, not {target}")
    with transaction.atomic():
        locked = _locked(execution)
        if locked.state != State.QUEUED:
            raise ExecutionError(f"execution {locked.id} is {locked.state}, not QUEUED")
        set_execution_state(locked, target, now())
        _save_written(locked)
        wake_executor(locked.id)
    return locked


def execution_set_labels(
    execution: Execution, labels: Mapping[str, str], *, actor: Any = None
) -> Execution:
    """Add or replace labels of an execution (``system.*`` labels are Trellis's own)."""
    check(actor, execution.namespace, Action.EXECUTE)
    reserved = sorted(k for k in labels if k.startswith("system."))
    if reserved:
        raise ExecutionError(f"system labels cannot be set by hand: {', '.join(reserved)}")
    with transaction.atomic():
        locked = _locked(execution)
        locked.labels = {**(locked.labels or {}), **{k: str(v) for k, v in labels.items()}}
        _save_written(locked)
        sync_label_rows(locked)
    return locked


#: Final states an ended execution may be given by hand (Kestra's change-status).
CHANGEABLE_EXECUTION_STATES = (State.SUCCESS, State.WARNING, State.FAILED)


def execution_change_status(
    execution: Execution, state: State | str, *, actor: Any = None
) -> Execution:
    """Give an ended execution another final state (SUCCESS, WARNING or FAILED), as Kestra's
    change-status: a user's verdict on the whole execution; its task runs stay as they were.

    A killed or cancelled execution stays so (Kestra refuses those too); nothing is
    re-evaluated, so no task runs.
    """
    check(actor, execution.namespace, Action.EXECUTE)
    try:
        target = State(str(state).upper())
    except ValueError:
        raise ExecutionError(f"unknown state {state!r}") from None
    if target not in CHANGEABLE_EXECUTION_STATES:
        allowed = ", ".join(CHANGEABLE_EXECUTION_STATES)
        raise ExecutionError(f"an execution's state can be changed to {allowed}, not {target}")
    with transaction.atomic():
        locked = _locked(execution)
        current = State(locked.state)
        if current not in CHANGEABLE_EXECUTION_STATES:
            raise ExecutionError(
                f"execution {locked.id} is {current}: only a SUCCESS, WARNING or FAILED "
                "execution can change its state"
            )
        if current == target:
            return locked
        set_execution_state(locked, target, now())
        _save_written(locked)
    return locked

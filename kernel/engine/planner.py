"""The pure engine: FlowSpec + execution snapshot + now -> Plan.

Why one module of some 550 lines: the rules below run in one loop over one private copy of
the snapshot, and their order is the semantics; the flowables' own rules already live in their
plugins and the blocks helper (``kernel.engine.blocks``). Kept whole so the order is read at once.

No Django, no Celery, no I/O. The executor loads a snapshot under a row lock, calls
:func:`plan`, and applies the actions in one transaction. The engine works on a private copy
of the snapshot and repeats its rules until nothing changes, so one call plans everything
that can happen now (nested flowables included), and a second call on the applied result
plans nothing: the executor is idempotent.

Rules, in order, each pass:
1. retries: a failed runnable whose policy allows another attempt becomes RETRYING with a
   due time; a due RETRYING run gets a new attempt;
2. flowables, deepest first: start the children they ask for, or resolve their own state;
3. the flow itself, a block of ``tasks``/``errors``/``finally``: start the next tasks or end
   the execution, rendering the flow's ``outputs``.
A KILLING execution only winds down: nothing new starts, what waits is KILLED.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kernel import conditions
from kernel.durations import DurationError, parse_duration
from kernel.engine.blocks import latest_by_task, run_block, run_phase
from kernel.engine.context import expression_context
from kernel.engine.plan import (
    CreateTaskRun,
    Dispatch,
    LogLine,
    Plan,
    SetExecutionState,
    SetLabels,
    SetTaskRunState,
)
from kernel.engine.retry import next_attempt_at
from kernel.engine.snapshot import BY_SEQ, ExecutionSnapshot, TaskRunSnapshot
from kernel.expressions.render import IO_KEY, ExpressionError, evaluate, is_truthy, render_value
from kernel.plugin import FlowableTask, PluginType, TaskFailed
from kernel.registry import registry
from kernel.states import (
    TERMINAL,
    State,
    check_execution_transition,
    check_task_run_transition,
)

if TYPE_CHECKING:
    from kernel.spec.model import FlowSpec, TaskSpec

#: A runaway flowable (one that keeps asking for children) stops here instead of looping.
MAX_PASSES = 10_000


def _registry_lookup(name: str) -> type[PluginType]:
    return registry.get(name)


def worker_queue(task: TaskSpec) -> str:
    """Queue a runnable task's attempts go to: ``default`` or its worker group's."""
    return f"wg.{task.worker_group}" if task.worker_group else "default"


@dataclass
class EngineEnv:
    """What the engine needs from outside, injected so tests control it."""

    envs: Mapping[str, str] = field(default_factory=dict)
    globals: Mapping[str, Any] = field(default_factory=dict)
    new_id: Callable[[], str] = lambda: uuid.uuid4().hex
    lookup: Callable[[str], type[PluginType]] = _registry_lookup
    #: Expression I/O hooks (secret, kv, read...), see kernel.expressions.render.
    io: Any = None


def plan(
    flow: FlowSpec, snap: ExecutionSnapshot, now: datetime, env: EngineEnv | None = None
) -> Plan:
    """Everything that should happen to this execution now."""
    return _Planner(flow, snap, now, env or EngineEnv()).run()


def all_tasks(flow: FlowSpec) -> Iterator[TaskSpec]:
    listeners = [task for listener in flow.listeners for task in listener.get("tasks") or ()]
    for group in (flow.tasks, flow.errors, flow.finally_, flow.after_execution, listeners):
        for task in group:
            yield from task.walk()


class _FlowableView:
    """The FlowableContext a flowable sees: its run, its children, a renderer."""

    def __init__(self, planner: _Planner, run: TaskRunSnapshot, task: TaskSpec) -> None:
        self._planner, self.run, self._task = planner, run, task
        self.now = planner.now
        self.decision = run.decision

    def children(
        self, tasks: Sequence[TaskSpec] | None = None, value: str | None = None
    ) -> list[TaskRunSnapshot]:
        wanted = {t.id for t in tasks} if tasks is not None else None
        latest: dict[tuple[str, str | None], TaskRunSnapshot] = {}
        for run in self._planner.children_of(self.run.id):
            if wanted is not None and run.task_id not in wanted:
                continue
            if value is not None and run.value != value:
                continue
            latest[(run.task_id, run.value)] = run
        return sorted(latest.values(), key=BY_SEQ)

    def render(self, value: Any) -> Any:
        """Render ``value`` for this flowable; an error names the property that held it."""
        try:
            return self._planner.render(value, self.run, self._task)
        except ExpressionError as exc:
            held = (k for k, v in self._task.properties.items() if v is value)
            raise type(exc)(f"{_where(self._task, next(held, '?'))}: {exc}", exc.template) from exc


def _where(task: TaskSpec, prop: str) -> str:
    """The property path an expression error names (issue 21): ``tasks.<id>.<property>``."""
    return f"tasks.{task.id}.{prop}"


class _Planner:
    def __init__(self, flow: FlowSpec, snap: ExecutionSnapshot, now: datetime, env: EngineEnv):
        self.flow, self.snap, self.now, self.env = flow, snap, now, env
        self.runs: dict[str, TaskRunSnapshot] = {r.id: r for r in snap.task_runs}
        self.kids: dict[str | None, list[str]] = {}
        for r in sorted(snap.task_runs, key=BY_SEQ):
            self.kids.setdefault(r.parent_id, []).append(r.id)
        self.next_seq = max((r.seq for r in snap.task_runs), default=0) + 1
        self.state = snap.state
        self.labels: Mapping[str, str] = snap.labels
        self.outputs: Mapping[str, Any] = snap.outputs
        self.plan = Plan()
        self.tasks = {t.id: t for t in all_tasks(flow)}
        self._plugins: dict[str, PluginType] = {}
        self._changed = False

    # -- helpers ---------------------------------------------------------------------------

    def plugin(self, task: TaskSpec) -> PluginType:
        if task.type not in self._plugins:
            self._plugins[task.type] = self.env.lookup(task.type)()
        return self._plugins[task.type]

    def is_flowable(self, task: TaskSpec) -> bool:
        return isinstance(self.plugin(task), FlowableTask)

    def children_of(self, run_id: str | None) -> list[TaskRunSnapshot]:
        return [self.runs[i] for i in self.kids.get(run_id, ())]

    def context(self, run: TaskRunSnapshot | None, task: TaskSpec | None) -> dict[str, Any]:
        snap = replace(
            self.snap, task_runs=tuple(self.runs.values()), state=self.state, labels=self.labels
        )
        extra = {IO_KEY: self.env.io} if self.env.io is not None else None
        return expression_context(
            self.flow,
            snap,
            run=run,
            task=task,
            envs=self.env.envs,
            globals_=self.env.globals,
            extra=extra,
        )

    def render(self, value: Any, run: TaskRunSnapshot | None, task: TaskSpec | None) -> Any:
        ctx = self.context(run, task)
        if isinstance(value, str):
            return evaluate(value, ctx)
        return render_value(value, ctx)

    def _run_if(self, task: TaskSpec, run: TaskRunSnapshot) -> Any:
        try:
            return self.render(task.run_if, run, task)
        except ExpressionError as exc:
            raise type(exc)(f"{_where(task, 'runIf')}: {exc}", exc.template) from exc

    def log(self, run_id: str | None, level: str, message: str) -> None:
        self.plan.add(LogLine(run_id, level, message))

    def set_run(
        self, run: TaskRunSnapshot, state: State, reason: str, *, via: str | None = None,
        **changes: Any,
    ) -> None:  # fmt: skip
        check_task_run_transition(run.state, state, f"task run {run.task_id}", via=via)
        self.runs[run.id] = replace(run, state=state, **changes)
        self.plan.add(SetTaskRunState(run.id, state, reason=reason, via=via, **changes))
        self._changed = True

    def set_execution(self, state: State, reason: str, outputs: Mapping | None = None) -> None:
        check_execution_transition(self.state, state, "execution")
        self.state = state
        self.plan.add(SetExecutionState(state, outputs=outputs, reason=reason))
        self._changed = True

    def active(self) -> list[TaskRunSnapshot]:
        return [r for r in self.runs.values() if r.state not in TERMINAL]

    # -- creating task runs ----------------------------------------------------------------

    def create(
        self,
        task: TaskSpec,
        parent: TaskRunSnapshot | None,
        value: str | None = None,
        iteration: int | None = None,
    ) -> None:
        """A new task run of ``task``: skipped, failed, running (flowable) or queued."""
        if value is None and parent is not None:
            value = parent.value
        run = TaskRunSnapshot(
            id=self.env.new_id(),
            task_id=task.id,
            parent_id=parent.id if parent else None,
            value=value,
            iteration=iteration,
            state=State.CREATED,
            seq=self.next_seq,
            started_at=self.now,
        )
        self.next_seq += 1
        state, dispatch, decision, reason = State.CREATED, False, None, "next task"
        due_at, effects = None, []
        try:
            if task.run_if is not None and not is_truthy(self._run_if(task, run)):
                state, reason = State.SKIPPED, "runIf is false"
            elif self.is_flowable(task):
                plugin = self.plugin(task)
                assert isinstance(plugin, FlowableTask)
                decision = plugin.decide(task, _FlowableView(self, run, task))
                run = replace(run, decision=dict(decision or {}))
                view = _FlowableView(self, run, task)
                state, due_at = plugin.on_create(task, view)
                effects = plugin.effects(task, view)
            else:
                dispatch = True
        except (ExpressionError, TaskFailed, ValueError, TypeError) as exc:
            state, dispatch, reason, effects = State.FAILED, False, str(exc), []
            self.log(run.id, "ERROR", f"{task.id}: {exc}")
        run = replace(run, state=state, decision=dict(decision or {}), due_at=due_at)
        self.runs[run.id] = run
        self.kids.setdefault(run.parent_id, []).append(run.id)
        self.plan.add(
            CreateTaskRun(
                id=run.id,
                task_id=task.id,
                parent_id=run.parent_id,
                value=value,
                iteration=iteration,
                state=state,
                dispatch=dispatch,
                queue=worker_queue(task),
                decision=run.decision or None,
                due_at=due_at,
                seq=run.seq,
                reason=reason,
            )
        )
        for effect in effects:
            self.plan.add(effect)
            if isinstance(effect, SetLabels):
                self.labels = {**self.labels, **effect.labels}
        self._changed = True

    # -- rules -----------------------------------------------------------------------------

    def retry_policy(
        self, task: TaskSpec, run: TaskRunSnapshot | None = None
    ) -> Mapping[str, Any] | None:
        """The policy retrying this task's run in place: the task's own ``retry``, else the
        one of the nearest flowable above the run that declares one (Kestra applies a
        flowable's ``retry`` to the failing children that declare none, issue 22), else the
        flow's. A policy with CREATE_NEW_EXECUTION retries the whole execution instead (the
        runtime does it once the execution has failed), so it allows no retry in place."""
        policy = task.retry or self.inherited_retry(run) or self.flow.retry
        if policy and policy.get("behavior", "RETRY_FAILED_TASK") == "RETRY_FAILED_TASK":
            return policy
        return None

    def inherited_retry(self, run: TaskRunSnapshot | None) -> Mapping[str, Any] | None:
        """The ``retry`` of the nearest enclosing flowable that declares one, if any."""
        parent_id = run.parent_id if run is not None else None
        while parent_id is not None:
            parent = self.runs.get(parent_id)
            if parent is None:
                return None
            declared = self.tasks.get(parent.task_id)
            if declared is not None and declared.retry:
                return declared.retry
            parent_id = parent.parent_id
        return None

    def apply_retries(self) -> None:
        wanted = (State.FAILED, State.RETRYING, State.SUCCESS, State.RESTARTED)
        candidates = [
            r
            for r in self.runs.values()
            if r.state in wanted and (r.state != State.SUCCESS or r.attempts > 1)
        ]
        for run in candidates:
            task = self.tasks.get(run.task_id)
            if task is None:
                continue
            if self.is_flowable(task):
                plugin = self.plugin(task)
                if isinstance(plugin, FlowableTask) and plugin.retries_by_effects:
                    self.retry_by_effects(run, task, plugin)
                continue
            policy = self.retry_policy(task, run)
            if run.state == State.RESTARTED:  # restarted by a user: a new attempt now
                self.set_run(run, State.CREATED, "restarted")
                self.plan.add(Dispatch(run.id, worker_queue(task), reason="restart"))
            elif run.state == State.FAILED:
                due = next_attempt_at(policy, run.attempts, run.started_at, self.now)
                if due is not None:
                    self.set_run(run, State.RETRYING, "retry policy", via="retry", due_at=due)
                    self.log(run.id, "WARN", f"attempt {run.attempts} failed, retrying")
            elif run.state == State.RETRYING:
                if run.due_at is None or run.due_at <= self.now:
                    self.set_run(run, State.CREATED, "retry due", due_at=None)
                    self.plan.add(Dispatch(run.id, worker_queue(task), reason="retry"))
            elif run.attempts > 1 and policy and policy.get("warningOnRetry"):
                self.set_run(run, State.WARNING, "warningOnRetry", via="retry")

    def retry_by_effects(self, run: TaskRunSnapshot, task: TaskSpec, plugin: FlowableTask) -> None:
        """A flowable whose work is an effect (Subflow: one child execution per attempt)
        retries like a runnable, by asking for its effects again once the delay is over."""
        if run.state == State.FAILED:
            due = next_attempt_at(
                self.retry_policy(task, run), run.attempts, run.started_at, self.now
            )
            if due is not None:
                self.set_run(run, State.RETRYING, "retry policy", via="retry", due_at=due)
                self.log(run.id, "WARN", f"attempt {run.attempts} failed, retrying")
        elif run.state == State.RETRYING and (run.due_at is None or run.due_at <= self.now):
            self.set_run(run, State.RUNNING, "retry due", due_at=None)
            for effect in plugin.effects(task, _FlowableView(self, self.runs[run.id], task)):
                self.plan.add(effect)

    def refresh_outputs(self, run: TaskRunSnapshot, outputs: Mapping[str, Any]) -> None:
        """A running flowable's outputs, visible to its children (WaitFor's iterationCount)."""
        merged = {**run.outputs, **outputs}
        if merged != dict(run.outputs):
            self.runs[run.id] = replace(run, outputs=merged)
            self.plan.add(
                SetTaskRunState(
                    run.id, run.state, outputs=merged, due_at=run.due_at, reason="outputs"
                )
            )

    def advance_flowables(self) -> None:
        pending = [
            r
            for r in self.runs.values()
            if r.state not in TERMINAL
            and r.task_id in self.tasks
            and self.is_flowable(self.tasks[r.task_id])
        ]
        for run in sorted(pending, key=BY_SEQ, reverse=True):
            run = self.runs[run.id]
            if run.state in TERMINAL:
                continue
            task = self.tasks[run.task_id]
            plugin = self.plugin(task)
            assert isinstance(plugin, FlowableTask)
            view = _FlowableView(self, run, task)
            if run.state == State.RESTARTED:
                self.set_run(run, State.RUNNING, "restarted")
                run = self.runs[run.id]
            if run.state == State.RETRYING:
                continue  # waiting for its retry (retry_by_effects owns it)
            if run.state == State.PAUSED:
                if run.due_at is not None and run.due_at <= self.now:
                    self.set_run(run, plugin.on_due(task, view), "due", due_at=None)
                continue
            if self.timed_out(run, task):
                continue
            try:
                starts = plugin.next_runs(task, view)
                if starts:
                    self.refresh_outputs(run, plugin.outputs(task, view))
                for start in starts:
                    self.create(start.task, run, start.value, start.iteration)
                if starts:
                    self.schedule_wake(self.runs[run.id], task, None)  # a wait is over
                    continue
                state = plugin.resolve_state(task, view)
                if state is not None:
                    outputs = {**run.outputs, **plugin.outputs(task, view)}
                    self.set_run(run, state, "children ended", outputs=outputs)
                else:
                    self.schedule_wake(run, task, plugin.wake_at(task, view))
            except (ExpressionError, TaskFailed, ValueError, TypeError) as exc:
                self.log(run.id, "ERROR", f"{task.id}: {exc}")
                self.set_run(run, State.FAILED, str(exc))

    def deadline(self, run: TaskRunSnapshot, task: TaskSpec) -> datetime | None:
        """When a flowable's ``timeout`` expires (its children then stop being waited for)."""
        if not task.timeout or run.started_at is None:
            return None
        if getattr(self.plugin(task), "handles_timeout", False):
            return None  # Pause reads its timeout itself
        try:
            return run.started_at + parse_duration(task.timeout)
        except DurationError:
            return None

    def timed_out(self, run: TaskRunSnapshot, task: TaskSpec) -> bool:
        """A flowable past its timeout fails; what it started and has not begun is killed."""
        deadline = self.deadline(run, task)
        if deadline is None or self.now < deadline:
            return False
        self.log(run.id, "ERROR", f"{task.id}: Timeout after {task.timeout}")
        for child in self.descendants(run.id):
            if (
                child.state in (State.CREATED, State.RETRYING, State.PAUSED, State.RESTARTED)
                or child.state == State.RUNNING
                and self.is_flowable(self.tasks[child.task_id])
            ):
                self.set_run(child, State.KILLED, "parent timed out")
        self.set_run(self.runs[run.id], State.FAILED, "timeout")
        return True

    def descendants(self, run_id: str) -> list[TaskRunSnapshot]:
        out, todo = [], list(self.kids.get(run_id, ()))
        while todo:
            child = self.runs[todo.pop()]
            out.append(child)
            todo.extend(self.kids.get(child.id, ()))
        return out

    def schedule_wake(self, run: TaskRunSnapshot, task: TaskSpec, when: datetime | None) -> None:
        """Keep the earliest of the flowable's own wake-up and its timeout as its due time."""
        times = [t for t in (when, self.deadline(run, task)) if t is not None]
        due = min(times) if times else None
        if due != run.due_at:
            self.runs[run.id] = replace(run, due_at=due)
            self.plan.add(SetTaskRunState(run.id, run.state, due_at=due, reason="wake-up"))

    def advance_flow(self) -> None:
        runs = latest_by_task(self.children_of(None))
        flow = self.flow
        starts, state = run_block(flow.tasks, flow.errors, flow.finally_, runs)
        for task in starts:
            self.create(task, None)
        if starts or state is None:
            return
        for group in self.closing_groups(state):
            phase = run_phase(group, runs)
            if not phase.done:
                for task in phase.start:
                    self.create(task, None)
                return
        outputs: dict[str, Any] = {}
        for output in flow.outputs:
            try:
                value = output.get("value")
                if str(output.get("type", "STRING")).upper() == "STRING":
                    value = render_value(value, self.context(None, None))
                else:
                    value = self.render(value, None, None)
                outputs[output["id"]] = value
            except ExpressionError as exc:
                self.log(None, "ERROR", f"flow output {output.get('id')!r}: {exc}")
                state = State.FAILED
        self.set_execution(state, "flow ended", outputs=outputs or None)

    def _ends_execution(self, task: TaskSpec) -> bool:
        try:
            return bool(getattr(self.plugin(task), "ends_execution", False))
        except LookupError:  # a type this engine cannot look up ends nothing
            return False

    def exit_state(self) -> State | None:
        """The state an ended Exit task asked the execution to end in, if any."""
        if not any(self._ends_execution(t) for t in self.tasks.values()):
            return None  # the common case: no Exit task in this flow
        for run in self.runs.values():
            task = self.tasks.get(run.task_id)
            if run.state not in TERMINAL or task is None or not self.is_flowable(task):
                continue
            if getattr(self.plugin(task), "ends_execution", False):
                return State(run.outputs.get("state", State.KILLED))
        return None

    def closing_groups(self, state: State) -> list[Sequence[TaskSpec]]:
        """Tasks that run once the flow's state is known and cannot change it: the
        (deprecated) listeners whose conditions match that state, then ``afterExecution``."""
        groups: list[Sequence[TaskSpec]] = []
        for listener in self.flow.listeners:
            if all(self.condition_holds(c, state) for c in listener.get("conditions") or ()):
                groups.append(listener.get("tasks") or ())
        if self.flow.after_execution:
            groups.append(self.flow.after_execution)
        return groups

    def condition_holds(self, condition: Mapping[str, Any], state: State) -> bool:
        """A listener condition, found through the registry like every condition type; it
        judges the execution in the state it is about to end in."""
        context = self.context(None, None)
        execution = {**(context.get("execution") or {}), "state": str(state)}
        try:
            return conditions.evaluate(condition, {**context, "execution": execution})
        except LookupError:  # a condition type no longer installed holds for nobody
            return False

    def wind_down(self) -> None:
        """KILLING: kill what has not started; flowables end once their children have."""
        for run in sorted(self.active(), key=BY_SEQ, reverse=True):
            task = self.tasks.get(run.task_id)
            if task is not None and self.is_flowable(task):
                if all(c.state in TERMINAL for c in self.children_of(run.id)):
                    self.set_run(run, State.KILLED, "killed")
            elif run.state in (State.CREATED, State.QUEUED, State.RETRYING, State.PAUSED):
                self.set_run(run, State.KILLED, "killed", due_at=None)
        if not self.active():
            self.set_execution(self.exit_state() or State.KILLED, "killed")

    def follow_pauses(self) -> None:
        """The execution is PAUSED while everything still active is paused."""
        active = self.active()
        all_paused = bool(active) and all(r.state == State.PAUSED for r in active)
        if self.state == State.RUNNING and all_paused:
            self.set_execution(State.PAUSED, "every active task run is paused")
        elif self.state == State.PAUSED and not all_paused:
            self.set_execution(State.RUNNING, "resumed")

    def run(self) -> Plan:
        if self.state in TERMINAL:
            return self.plan
        if self.state in (State.CREATED, State.QUEUED, State.RESTARTED):
            self.set_execution(State.RUNNING, "started")
        for _ in range(MAX_PASSES):
            self._changed = False
            if self.state == State.KILLING:
                self.wind_down()
            else:
                self.apply_retries()
                self.advance_flowables()
                if self.exit_state() is not None:
                    self.set_execution(State.KILLING, "an Exit task ended the execution")
                    continue
                self.advance_flow()
            if not self._changed or self.state in TERMINAL:
                break
        if self.state not in TERMINAL and self.state != State.KILLING:
            self.follow_pauses()
        dues = [r.due_at for r in self.active() if r.due_at is not None]
        self.plan.due_at = min(dues) if dues and self.state not in TERMINAL else None
        return self.plan

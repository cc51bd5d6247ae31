"""A database-free stand-in for persistence + workers, to drive the pure engine in tests.

``Sim`` applies plans to a snapshot the way ``executions.runtime.persistence`` does, and plays
workers: each dispatched runnable ends in the state ``outcome(task_id, attempt)`` says.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from kernel.engine.plan import CreateTaskRun, Dispatch, LogLine, SetExecutionState, SetTaskRunState
from kernel.engine.planner import EngineEnv, plan
from kernel.engine.snapshot import ExecutionSnapshot, TaskRunSnapshot
from kernel.spec.model import FlowSpec
from kernel.spec.parse import parse_flow
from kernel.states import State
from tests.unit.fake_context import FakeLogger

Outcome = Callable[[str, int], State | tuple[State, dict]]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def ok(task_id: str, attempt: int) -> State:
    return State.SUCCESS


class _Ctx:
    """Just enough of a RunContext for the pure runnables (Log, Return, OutputValues, Fail)."""

    def __init__(self, lines: list) -> None:
        self.logger = FakeLogger()
        self.logger.records = lines  # share the simulator's list of (level, message)

    def should_stop(self) -> bool:
        return False


class Sim:
    def __init__(self, source: str | FlowSpec, outcome: Outcome | None = ok, **snap) -> None:
        self.flow = parse_flow(source) if isinstance(source, str) else source
        counter = itertools.count(1)
        self.env = EngineEnv(new_id=lambda: f"r{next(counter)}")
        self.snap = ExecutionSnapshot(
            id="e1", namespace=self.flow.namespace, flow_id=self.flow.id, flow_revision=1,
            state=State.CREATED, **snap,
        )  # fmt: skip
        self.outcome = outcome
        self.now = T0
        self.queue: list[str] = []
        self.logs: list[LogLine] = []
        self.task_logs: list[tuple[str, str]] = []
        self.plans = 0

    @property
    def runs(self) -> list[TaskRunSnapshot]:
        return sorted(self.snap.task_runs, key=lambda r: r.seq)

    def run_of(self, task_id: str) -> TaskRunSnapshot:
        return [r for r in self.runs if r.task_id == task_id][-1]

    def _put(self, run: TaskRunSnapshot) -> None:
        others = tuple(r for r in self.snap.task_runs if r.id != run.id)
        self.snap = replace(self.snap, task_runs=(*others, run))

    def step(self) -> bool:
        """Plan and apply once; True when the plan did something."""
        result = plan(self.flow, self.snap, self.now, self.env)
        self.plans += 1
        for action in result.actions:
            if isinstance(action, CreateTaskRun):
                self._put(TaskRunSnapshot(
                    id=action.id, task_id=action.task_id, parent_id=action.parent_id,
                    value=action.value, iteration=action.iteration, state=action.state,
                    decision=dict(action.decision or {}), seq=len(self.snap.task_runs) + 1,
                    outputs=dict(action.outputs or {}), started_at=self.now,
                    due_at=action.due_at,
                ))  # fmt: skip
                if action.dispatch:
                    self.queue.append(action.id)
            elif isinstance(action, SetTaskRunState):
                run = next(r for r in self.snap.task_runs if r.id == action.id)
                changes = {"state": action.state, "due_at": action.due_at}
                if action.outputs is not None:
                    changes["outputs"] = dict(action.outputs)
                self._put(replace(run, **changes))
            elif isinstance(action, Dispatch):
                self.queue.append(action.task_run_id)
            elif isinstance(action, SetExecutionState):
                outputs = dict(action.outputs) if action.outputs is not None else self.snap.outputs
                self.snap = replace(self.snap, state=action.state, outputs=outputs)
            elif isinstance(action, LogLine):
                self.logs.append(action)
        return bool(result)

    def execute(self, task_id: str, attempt: int) -> State | tuple[State, dict]:
        """Run the real plugin of a pure runnable with rendered properties (no Django)."""
        from kernel.engine.context import expression_context
        from kernel.engine.planner import all_tasks
        from kernel.expressions.render import ExpressionError, render_value
        from kernel.plugin import TaskFailed, TaskResult
        from kernel.registry import registry

        task = next(t for t in all_tasks(self.flow) if t.id == task_id)
        run = [r for r in self.runs if r.task_id == task_id][-1]
        try:
            context = expression_context(self.flow, self.snap, run=run, task=task)
            props = render_value(dict(task.properties), context)
            result = registry.get(task.type)().run(props, _Ctx(self.task_logs))
        except (TaskFailed, ExpressionError) as exc:
            self.task_logs.append(("ERROR", str(exc)))
            return State.FAILED
        if isinstance(result, TaskResult):
            return result.state, result.outputs
        return State.SUCCESS, dict(result or {})

    def work(self) -> bool:
        """Play the workers for everything queued."""
        did = bool(self.queue)
        while self.queue:
            run_id = self.queue.pop(0)
            run = next(r for r in self.snap.task_runs if r.id == run_id)
            attempt = run.attempts + 1
            outcome = self.outcome if self.outcome is not None else self.execute
            result = outcome(run.task_id, attempt)
            state, outputs = result if isinstance(result, tuple) else (result, {})
            self._put(replace(run, state=state, attempts=attempt, outputs=outputs))
        return did

    def finish(self, limit: int = 500) -> ExecutionSnapshot:
        for _ in range(limit):
            planned = self.step()
            worked = self.work()
            if self.snap.state in (State.SUCCESS, State.WARNING, State.FAILED, State.KILLED):
                return self.snap
            if not planned and not worked:
                dues = [r.due_at for r in self.snap.task_runs if r.due_at]
                if not dues:
                    return self.snap
                self.now = max(self.now, min(dues)) + timedelta(milliseconds=1)
        raise AssertionError("the execution never ended")

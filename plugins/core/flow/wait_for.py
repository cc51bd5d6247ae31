"""``WaitFor``: run ``tasks`` again and again until ``condition`` renders truthy, at most
``checkFrequency.maxIterations`` times (or ``maxDuration``); ``iterationCount`` counts the
iterations done and is visible to the tasks as ``outputs.<id>.iterationCount``.

Between two iterations the WaitFor waits ``checkFrequency.interval`` (default 1 s) as a due
time in the database, never on a worker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from executions.durations import parse_duration
from executions.expressions import is_truthy
from executions.states import FAILING, State
from plugins.base import ChildStart, FlowableContext, FlowableTask, Prop, kestra_aliases
from plugins.core.flow.blocks import close_block, latest_by_task, run_phase
from plugins.core.flow.sequential import BLOCK_PROPS

if TYPE_CHECKING:
    from flows.spec import TaskSpec


class WaitFor(FlowableTask):
    type = "trellis.core.flow.WaitFor"
    aliases = kestra_aliases("flow.WaitFor", core_tasks="flows.WaitFor")
    properties: ClassVar = (
        Prop("condition", "any", required=True, description="Stop once this is truthy."),
        Prop("tasks", "tasks", required=True),
        Prop("checkFrequency", "map", default={}),
        Prop("failOnMaxReached", "boolean", default=False),
        *BLOCK_PROPS,
    )

    def _iterations(self, ctx: FlowableContext) -> dict[int, dict[str, Any]]:
        out: dict[int, dict[str, Any]] = {}
        for run in ctx.children():
            if run.value is not None and run.value.startswith("#"):
                out.setdefault(int(run.value[1:]), {})[run.task_id] = run
        return out

    def _state(self, task: TaskSpec, ctx: FlowableContext) -> tuple[list[ChildStart], State | None]:
        tasks = task.children.get("tasks", ())
        iterations = self._iterations(ctx)
        current = max(iterations, default=0)
        kids = task.children
        handlers = latest_by_task(
            [r for r in ctx.children() if not (r.value or "").startswith("#")]
        )
        if current:
            phase = run_phase(tasks, iterations[current])
            if not phase.done:
                return [ChildStart(t, f"#{current}") for t in phase.start], None
            if phase.state in FAILING:
                closing, state = close_block(phase.state, kids.get("errors", ()),
                                             kids.get("finally", ()), handlers)  # fmt: skip
                return [ChildStart(t) for t in closing], state
            if is_truthy(ctx.render(task.properties.get("condition"))):
                return self._close(task, State.SUCCESS, handlers)
        frequency = task.properties.get("checkFrequency") or {}
        if current and self._wait_until(task, ctx) is not None:
            return [], None  # the interval between two iterations is not over
        limit = int(frequency.get("maxIterations", 100))
        budget = parse_duration(frequency.get("maxDuration", "PT1H"))
        started = ctx.run.started_at
        if current >= limit or (started is not None and ctx.now - started > budget):
            failing = bool(task.properties.get("failOnMaxReached"))
            return self._close(task, State.FAILED if failing else State.SUCCESS, handlers)
        return [ChildStart(t, f"#{current + 1}") for t in run_phase(tasks, {}).start], None

    def _wait_until(self, task: TaskSpec, ctx: FlowableContext) -> Any:
        """The end of the pause before the next iteration, while it is still ahead."""
        frequency = task.properties.get("checkFrequency") or {}
        interval = parse_duration(frequency.get("interval", "PT1S"))
        if interval.total_seconds() <= 0:
            return None
        due = ctx.run.due_at
        if due is None:
            return ctx.now + interval
        return due if ctx.now < due else None

    def wake_at(self, task: TaskSpec, ctx: FlowableContext) -> Any:
        iterations = self._iterations(ctx)
        current = max(iterations, default=0)
        if not current or not run_phase(task.children.get("tasks", ()), iterations[current]).done:
            return None
        return self._wait_until(task, ctx)

    def _close(self, task: TaskSpec, state: State, handlers: dict) -> tuple[list, State | None]:
        kids = task.children
        closing, final = close_block(state, kids.get("errors", ()), kids.get("finally", ()),
                                     handlers)  # fmt: skip
        return [ChildStart(t) for t in closing], final

    def next_runs(self, task: TaskSpec, ctx: FlowableContext) -> list[ChildStart]:
        return self._state(task, ctx)[0]

    def resolve_state(self, task: TaskSpec, ctx: FlowableContext) -> State | None:
        return self._state(task, ctx)[1]

    def outputs(self, task: TaskSpec, ctx: FlowableContext) -> dict[str, Any]:
        return {"iterationCount": max(self._iterations(ctx), default=0)}


PLUGINS = [WaitFor]

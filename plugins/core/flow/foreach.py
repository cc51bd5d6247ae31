"""Loops: ``ForEach`` and Kestra's deprecated ``EachSequential`` / ``EachParallel``.

The values are rendered once, when the loop starts (a list, a JSON string or an expression),
and each becomes the string users see as ``taskrun.value``. Every iteration runs the loop's
``tasks`` as a sequence; at most ``concurrencyLimit`` iterations run at once (0: all). Once
an iteration fails no new one starts; ``errors`` and ``finally`` run once, at the end.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from executions.states import FAILING, State, worst
from plugins.base import ChildStart, FlowableContext, FlowableTask, Prop, TaskFailed, kestra_aliases
from plugins.core.flow.blocks import close_block, latest_by_task, run_phase
from plugins.core.flow.sequential import BLOCK_PROPS

if TYPE_CHECKING:
    from executions.snapshot import TaskRunSnapshot
    from flows.spec import TaskSpec


def loop_value(item: Any) -> str:
    """How a loop item is shown as ``taskrun.value``: strings as they are, the rest as JSON."""
    if isinstance(item, str):
        return item
    return json.dumps(item, separators=(",", ":"), ensure_ascii=False)


def java_str(value: Any) -> str:
    """A value printed the way Kestra's messages print Java collections."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(java_str(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={java_str(v)}" for k, v in value.items()) + "}"
    return str(value)


def parse_values(rendered: Any) -> list[str]:
    if isinstance(rendered, str):
        try:
            rendered = json.loads(rendered)
        except ValueError:
            raise TaskFailed(f"loop values must be a list or a JSON array, not {rendered!r}")
    if not isinstance(rendered, list):
        raise TaskFailed(f"loop values must be a list, not {type(rendered).__name__}")
    nulls = sum(1 for item in rendered if item is None)
    if nulls:
        raise TaskFailed(f"Found '{nulls}' null values on Each, with values={java_str(rendered)}")
    return [loop_value(item) for item in rendered]


class Loop(FlowableTask):
    """Shared loop rule; subclasses say where the values and the concurrency come from."""

    values_prop = "values"

    def concurrency(self, task: TaskSpec, ctx: FlowableContext) -> int:
        return 1

    def decide(self, task: TaskSpec, ctx: FlowableContext) -> dict[str, Any]:
        values = parse_values(ctx.render(task.properties.get(self.values_prop)))
        return {"values": values, "concurrency": self.concurrency(task, ctx)}

    def _state(self, task: TaskSpec, ctx: FlowableContext) -> tuple[list[ChildStart], State | None]:
        tasks: Sequence[TaskSpec] = task.children.get("tasks", ())
        values: list[str] = ctx.decision.get("values", [])
        limit = int(ctx.decision.get("concurrency", 1))
        by_iteration: dict[int, list[TaskRunSnapshot]] = {}
        handlers: list[TaskRunSnapshot] = []
        for run in ctx.children():
            if run.iteration is None:
                handlers.append(run)
            else:
                by_iteration.setdefault(run.iteration, []).append(run)
        starts: list[ChildStart] = []
        states: list[State] = []
        active = 0
        unstarted: list[int] = []
        for index, value in enumerate(values):
            runs = by_iteration.get(index)
            if not runs:
                unstarted.append(index)
                continue
            phase = run_phase(tasks, latest_by_task(runs))
            if phase.done:
                states.append(phase.state)
            else:
                active += 1
                starts += [ChildStart(t, value, index) for t in phase.start]
        failed = worst(states) in FAILING
        room = len(unstarted) if limit <= 0 else max(limit - active, 0)
        if not failed:
            for index in unstarted[:room]:
                first = run_phase(tasks, {}).start
                starts += [ChildStart(t, values[index], index) for t in first]
                active += 1 if first else 0
        if starts or active or (unstarted and not failed):
            return starts, None
        kids = task.children
        closing, state = close_block(
            worst(states), kids.get("errors", ()), kids.get("finally", ()),
            latest_by_task(handlers),
        )  # fmt: skip
        return [ChildStart(t) for t in closing], state

    def next_runs(self, task: TaskSpec, ctx: FlowableContext) -> list[ChildStart]:
        return self._state(task, ctx)[0]

    def resolve_state(self, task: TaskSpec, ctx: FlowableContext) -> State | None:
        return self._state(task, ctx)[1]


class ForEach(Loop):
    type = "trellis.core.flow.ForEach"
    aliases = kestra_aliases("flow.ForEach", core_tasks="flows.ForEach")
    properties: ClassVar = (
        Prop("values", "any", required=True, description="A list, a JSON array or {{ }}."),
        Prop("concurrencyLimit", "integer", default=1, description="0 runs all at once."),
        Prop("tasks", "tasks", required=True),
        *BLOCK_PROPS,
    )

    def concurrency(self, task: TaskSpec, ctx: FlowableContext) -> int:
        return int(ctx.render(task.properties.get("concurrencyLimit", 1)))


class EachSequential(Loop):
    type = "trellis.core.flow.EachSequential"
    aliases = kestra_aliases("flow.EachSequential", core_tasks="flows.EachSequential")
    deprecated = "use ForEach"
    values_prop = "value"
    properties: ClassVar = (
        Prop("value", "any", required=True),
        Prop("tasks", "tasks", required=True),
        *BLOCK_PROPS,
    )


class EachParallel(Loop):
    type = "trellis.core.flow.EachParallel"
    aliases = kestra_aliases("flow.EachParallel", core_tasks="flows.EachParallel")
    deprecated = "use ForEach with concurrencyLimit: 0"
    values_prop = "value"
    properties: ClassVar = (
        Prop("value", "any", required=True),
        Prop("concurrent", "integer", default=0),
        Prop("tasks", "tasks", required=True),
        *BLOCK_PROPS,
    )

    def concurrency(self, task: TaskSpec, ctx: FlowableContext) -> int:
        return int(ctx.render(task.properties.get("concurrent", 0)))


PLUGINS = [ForEach, EachSequential, EachParallel]

"""Loops: ``ForEach`` and Kestra's deprecated ``EachSequential`` / ``EachParallel``.

The values are rendered once, when the loop starts (a list, a JSON string or an expression),
and remembered as the decision, so a re-plan after a crash walks the same values. Each value
becomes the string users see as ``taskrun.value`` (objects and lists as compact JSON). Every
iteration runs the loop's ``tasks`` one after the other; at most ``concurrencyLimit``
iterations are active at once (0: all). Once an iteration fails no new one starts; the loop's
``errors`` and ``finally`` run once, after every started iteration has ended.

A task run is unique per (parent, task, value), so a value listed twice runs once.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from kernel import taint
from kernel.engine.blocks import close_block, latest_by_task, run_phase
from kernel.plugin import (
    ChildStart,
    FlowableContext,
    FlowableTask,
    Prop,
    TaskFailed,
    kestra_aliases,
)
from kernel.states import FAILING, State, worst
from plugins.core.flow.sequential import BLOCK_PROPS

if TYPE_CHECKING:
    from kernel.engine.snapshot import TaskRunSnapshot
    from kernel.spec.model import TaskSpec


def loop_value(item: Any) -> str:
    """How a loop item is shown as ``taskrun.value``: strings as they are, the rest as JSON."""
    if isinstance(item, str):
        return item
    return taint.printed(item, json.dumps(item, separators=(",", ":"), ensure_ascii=False))


def java_str(value: Any) -> str:
    """A value printed the way Kestra's messages print Java collections (``{k=v}``)."""
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
    """The loop values as strings, each once, in order; refuses non-lists and nulls with
    Kestra's messages."""
    if isinstance(rendered, str):
        try:
            parsed = json.loads(rendered)
            # Issue 21: the items of a JSON list made from a secret are secret too.
            rendered = taint.mark(parsed) if taint.is_marked(rendered) else parsed
        except ValueError:
            raise TaskFailed(
                f"loop values must be a list or a JSON array, not {rendered!r}"
            ) from None
    if isinstance(rendered, tuple):
        rendered = list(rendered)
    if not isinstance(rendered, list):
        raise TaskFailed(f"loop values must be a list, not {type(rendered).__name__}")
    nulls = sum(1 for item in rendered if item is None)
    if nulls:
        raise TaskFailed(f"Found '{nulls}' null values on Each, with values={java_str(rendered)}")
    return list(dict.fromkeys(loop_value(item) for item in rendered))


class Loop(FlowableTask):
    """The loop rule; subclasses say where the values and the concurrency come from."""

    values_prop: ClassVar[str] = "values"

    def concurrency(self, task: TaskSpec, ctx: FlowableContext) -> int:
        return 1

    def decide(self, task: TaskSpec, ctx: FlowableContext) -> dict[str, Any]:
        values = parse_values(ctx.render(task.properties.get(self.values_prop)))
        limit = self.concurrency(task, ctx)
        if limit < 0:
            raise TaskFailed(f"the concurrency limit must be 0 (no limit) or more, not {limit}")
        return {"values": values, "concurrency": limit}

    def _plan(self, task: TaskSpec, ctx: FlowableContext) -> tuple[list[ChildStart], State | None]:
        """Children to start now, and the loop's state once it is over (worked out once per
        look at the loop: the engine asks next_runs, then resolve_state, of the same view)."""
        cached = getattr(ctx, "_loop_plan", None)
        if cached is not None:
            return cached
        result = self._work_out(task, ctx)
        with contextlib.suppress(AttributeError):  # a context that takes no attributes
            ctx._loop_plan = result  # type: ignore[attr-defined]
        return result

    def _work_out(
        self, task: TaskSpec, ctx: FlowableContext
    ) -> tuple[list[ChildStart], State | None]:
        tasks: Sequence[TaskSpec] = task.children.get("tasks", ())
        values: list[str] = list(ctx.decision.get("values", ()))
        limit = int(ctx.decision.get("concurrency", 1))
        iterations, handlers = _split(ctx.children())
        starts: list[ChildStart] = []
        ended: list[State] = []
        waiting: list[int] = []
        active = 0
        # Looked at on every hop of the loop, for every iteration: the common case, an
        # iteration whose every enabled task has exactly one successful run, costs one
        # length check and one pass over its runs (a SUCCESS adds nothing to ``worst``).
        enabled = sum(1 for t in tasks if not t.disabled)
        for index, value in enumerate(values):
            runs = iterations.get(index)
            if runs is None:
                waiting.append(index)
                continue
            if len(runs) == enabled:
                for run in runs:
                    if run.state != State.SUCCESS:
                        break
                else:
                    continue
            phase = run_phase(tasks, latest_by_task(runs))
            if phase.done:
                ended.append(phase.state)
            else:
                active += 1
                starts += [ChildStart(t, value, index) for t in phase.start]
        state = worst(ended)
        first = run_phase(tasks, {}).start  # empty when every task is disabled
        if state not in FAILING and waiting and first:
            room = len(waiting) if limit <= 0 else max(limit - active, 0)
            for index in waiting[:room]:
                starts += [ChildStart(t, values[index], index) for t in first]
            active += len(waiting[:room])
            waiting = waiting[room:]
        else:
            waiting = []  # nothing more starts: a failure, or nothing to run
        if starts or active or waiting:
            return starts, None
        kids = task.children
        closing, final = close_block(
            state, kids.get("errors", ()), kids.get("finally", ()), latest_by_task(handlers)
        )
        return [ChildStart(t) for t in closing], final

    def next_runs(self, task: TaskSpec, ctx: FlowableContext) -> list[ChildStart]:
        return self._plan(task, ctx)[0]

    def resolve_state(self, task: TaskSpec, ctx: FlowableContext) -> State | None:
        return self._plan(task, ctx)[1]


def _split(
    children: Sequence[TaskRunSnapshot],
) -> tuple[dict[int, list[TaskRunSnapshot]], list[TaskRunSnapshot]]:
    """The loop's children by iteration, and its ``errors``/``finally`` runs (no iteration)."""
    iterations: dict[int, list[TaskRunSnapshot]] = {}
    handlers: list[TaskRunSnapshot] = []
    for run in children:
        if run.iteration is None:
            handlers.append(run)
        else:
            iterations.setdefault(run.iteration, []).append(run)
    return iterations, handlers


def _limit(ctx: FlowableContext, raw: Any, default: int) -> int:
    value = ctx.render(raw) if raw is not None else default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise TaskFailed(f"the concurrency limit must be an integer, not {value!r}") from None


_EXAMPLE = """id: foreach_example
namespace: trellis.examples
tasks:
  - id: each_region
    type: trellis.core.flow.ForEach
    values: ["eu", "us", {"name": "asia", "zone": 3}]
    concurrencyLimit: 2
    tasks:
      - id: greet
        type: io.kestra.plugin.core.log.Log
        message: "region {{ taskrun.value }}"
    finally:
      - id: done
        type: io.kestra.plugin.core.log.Log
        message: every region was visited
"""


class ForEach(Loop):
    """Run ``tasks`` once per value; ``concurrencyLimit`` iterations at a time (0: all)."""

    type = "trellis.core.flow.ForEach"
    children_layout = "parallel"
    aliases = kestra_aliases("flow.ForEach", core_tasks="flows.ForEach")
    properties: ClassVar = (
        Prop("values", "any", required=True, description="A list, a JSON array or {{ }}."),
        Prop("concurrencyLimit", "integer", default=1, description="0 runs all at once."),
        Prop("tasks", "tasks", required=True),
        *BLOCK_PROPS,
    )
    examples = (_EXAMPLE,)

    def concurrency(self, task: TaskSpec, ctx: FlowableContext) -> int:
        return _limit(ctx, task.properties.get("concurrencyLimit"), 1)


class EachSequential(Loop):
    """Kestra's older loop: one value after the other (``ForEach`` replaces it)."""

    type = "trellis.core.flow.EachSequential"
    aliases = kestra_aliases("flow.EachSequential", core_tasks="flows.EachSequential")
    deprecated = "use ForEach"
    values_prop = "value"
    properties: ClassVar = (
        Prop("value", "any", required=True, description="A list, a JSON array or {{ }}."),
        Prop("tasks", "tasks", required=True),
        *BLOCK_PROPS,
    )


class EachParallel(Loop):
    """Kestra's older parallel loop: every value at once, or ``concurrent`` at a time."""

    type = "trellis.core.flow.EachParallel"
    children_layout = "parallel"
    aliases = kestra_aliases("flow.EachParallel", core_tasks="flows.EachParallel")
    deprecated = "use ForEach"
    values_prop = "value"
    properties: ClassVar = (
        Prop("value", "any", required=True, description="A list, a JSON array or {{ }}."),
        Prop("concurrent", "integer", default=0, description="0 runs all at once."),
        Prop("tasks", "tasks", required=True),
        *BLOCK_PROPS,
    )

    def concurrency(self, task: TaskSpec, ctx: FlowableContext) -> int:
        return _limit(ctx, task.properties.get("concurrent"), 0)


PLUGINS = [ForEach, EachSequential, EachParallel]

"""``Dag``: tasks start once every task they depend on has ended well; at most
``concurrent`` at a time (0: no limit). Unknown ids and cycles are refused at deploy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from executions.states import FAILING, SUCCESSFUL, TERMINAL, State, worst
from plugins.base import ChildStart, FlowableContext, FlowableTask, Prop, kestra_aliases
from plugins.core.flow.blocks import close_block, effective_state, latest_by_task
from plugins.core.flow.sequential import BLOCK_PROPS

if TYPE_CHECKING:
    from flows.spec import TaskSpec


class Dag(FlowableTask):
    type = "trellis.core.flow.Dag"
    aliases = kestra_aliases("flow.Dag", core_tasks="flows.Dag")
    properties: ClassVar = (
        Prop("tasks", "dag", required=True, description="Items {task, dependsOn}."),
        Prop("concurrent", "integer", default=0),
        *BLOCK_PROPS,
    )

    def _state(self, task: TaskSpec, ctx: FlowableContext) -> tuple[list[ChildStart], State | None]:
        depends: dict[str, list[str]] = task.properties.get("dependsOn") or {}
        limit = int(ctx.render(task.properties.get("concurrent", 0)) or 0)
        runs = latest_by_task(ctx.children())
        states: dict[str, State] = {}
        active = 0
        ready: list[Any] = []
        for child in task.children.get("tasks", ()):
            run = runs.get(child.id)
            if run is None:
                if child.disabled:
                    states[child.id] = State.SKIPPED
                elif all(states.get(d) in SUCCESSFUL for d in depends.get(child.id, ())):
                    ready.append(child)
            elif run.state in TERMINAL:
                states[child.id] = effective_state(child, run.state)
            else:
                active += 1
        failed = worst(list(states.values())) in FAILING
        if not failed and ready:
            room = len(ready) if limit <= 0 else max(limit - active, 0)
            if room:
                return [ChildStart(t) for t in ready[:room]], None
        if active:
            return [], None
        pending = [t for t in task.children.get("tasks", ()) if t.id not in states]
        if pending and not failed:
            return [], None  # waiting on dependencies that are still to start
        kids = task.children
        closing, state = close_block(
            worst(list(states.values())), kids.get("errors", ()), kids.get("finally", ()), runs
        )
        return [ChildStart(t) for t in closing], state

    def next_runs(self, task: TaskSpec, ctx: FlowableContext) -> list[ChildStart]:
        return self._state(task, ctx)[0]

    def resolve_state(self, task: TaskSpec, ctx: FlowableContext) -> State | None:
        return self._state(task, ctx)[1]


PLUGINS = [Dag]

"""``Pause``: stop here until someone resumes (or a delay passes, or a timeout fails it).

The run is created PAUSED with its due time in the database; the sweeper wakes the executor
when it is due. ``onResume`` declares inputs asked at resume time; they become the run's
outputs. The deprecated ``tasks`` run after the resume, as a block.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from kernel.durations import parse_duration
from kernel.plugin import FlowableContext, Prop, kestra_aliases
from kernel.states import State
from plugins.core.flow.sequential import BLOCK_PROPS, BlockTask

if TYPE_CHECKING:
    from kernel.spec.model import TaskSpec

BEHAVIORS = {"RESUME": State.RUNNING, "WARN": State.WARNING, "FAIL": State.FAILED,
             "CANCEL": State.KILLED}  # fmt: skip


class Pause(BlockTask):
    type = "trellis.core.flow.Pause"
    aliases = kestra_aliases("flow.Pause", core_tasks="flows.Pause")
    handles_timeout = True  # its timeout is a pause's own limit (behavior), not the engine's
    properties: ClassVar = (
        Prop("delay", "duration", description="Resume by itself after this long."),
        Prop("pauseDuration", "duration", description="Newer name of delay."),
        Prop("behavior", "string", default="RESUME", choices=tuple(BEHAVIORS)),
        Prop("timeout", "duration", description="Fail if not resumed within this long."),
        Prop("onResume", "list", description="Inputs asked when resuming."),
        Prop("tasks", "tasks", deprecated="put the tasks after the Pause"),
        *BLOCK_PROPS,
    )

    def decide(self, task: TaskSpec, ctx: FlowableContext) -> dict[str, Any]:
        props = task.properties
        for key in ("delay", "pauseDuration"):
            if props.get(key):
                behavior = str(props.get("behavior") or "RESUME").upper()
                return {"after": str(ctx.render(props[key])), "then": behavior}
        timeout = props.get("timeout") or task.timeout  # `timeout` is a common task property
        if timeout:
            return {"after": str(ctx.render(timeout)), "then": "FAIL"}
        return {}

    def on_create(self, task: TaskSpec, ctx: FlowableContext) -> tuple[State, datetime | None]:
        after = ctx.decision.get("after")
        return State.PAUSED, (ctx.now + parse_duration(after)) if after else None

    def on_due(self, task: TaskSpec, ctx: FlowableContext) -> State:
        return BEHAVIORS.get(str(ctx.decision.get("then", "RESUME")), State.RUNNING)


PLUGINS = [Pause]

"""``Switch``: run the tasks of the case matching the rendered value, or ``defaults``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from plugins.base import FlowableContext, Prop, TaskFailed, kestra_aliases
from plugins.core.flow.sequential import BLOCK_PROPS, BlockTask

if TYPE_CHECKING:
    from flows.spec import TaskSpec

CASE = "cases."


class Switch(BlockTask):
    type = "trellis.core.flow.Switch"
    aliases = kestra_aliases("flow.Switch", core_tasks="flows.Switch")
    properties: ClassVar = (
        Prop("value", "string", required=True, description="Decided once, when Switch starts."),
        Prop("cases", "task_map", description="value -> tasks"),
        Prop("defaults", "tasks", description="Run when no case matches."),
        *BLOCK_PROPS,
    )

    def decide(self, task: TaskSpec, ctx: FlowableContext) -> dict[str, Any]:
        value = ctx.render(task.properties.get("value"))
        text = value if isinstance(value, str) else _text(value)
        if CASE + text in task.children:
            return {"value": text, "branch": CASE + text, "defaults": False}
        if task.children.get("defaults"):
            return {"value": text, "branch": "defaults", "defaults": True}
        cases = ", ".join(k[len(CASE) :] for k in task.children if k.startswith(CASE))
        raise TaskFailed(f"Switch: no case matches {text!r} (cases: {cases}) and no defaults")

    def main_tasks(self, task: TaskSpec, ctx: FlowableContext) -> tuple[TaskSpec, ...]:
        return task.children.get(ctx.decision.get("branch", ""), ())

    def outputs(self, task: TaskSpec, ctx: FlowableContext) -> dict[str, Any]:
        return {"value": ctx.decision.get("value"), "defaults": ctx.decision.get("defaults")}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


PLUGINS = [Switch]

"""``If``: run ``then`` when the condition is truthy (Kestra's truthiness), else ``else``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from executions.expressions import is_truthy
from plugins.base import FlowableContext, Prop, kestra_aliases
from plugins.core.flow.sequential import BLOCK_PROPS, BlockTask

if TYPE_CHECKING:
    from flows.spec import TaskSpec


class If(BlockTask):
    type = "trellis.core.flow.If"
    aliases = kestra_aliases("flow.If", core_tasks="flows.If")
    properties: ClassVar = (
        Prop("condition", "any", required=True, description="Decided once, when If starts."),
        Prop("then", "tasks", required=True),
        Prop("else", "tasks"),
        *BLOCK_PROPS,
    )

    def decide(self, task: TaskSpec, ctx: FlowableContext) -> dict[str, Any]:
        truthy = is_truthy(ctx.render(task.properties.get("condition")))
        return {"branch": "then" if truthy else "else"}

    def main_tasks(self, task: TaskSpec, ctx: FlowableContext) -> tuple[TaskSpec, ...]:
        return task.children.get(ctx.decision.get("branch", "then"), ())


PLUGINS = [If]

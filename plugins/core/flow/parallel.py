"""``Parallel``: start child tasks together, at most ``concurrent`` at a time (0 = all)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from kernel.plugin import FlowableContext, Prop, kestra_aliases
from plugins.core.flow.sequential import BLOCK_PROPS, BlockTask

if TYPE_CHECKING:
    from kernel.spec.model import TaskSpec


class Parallel(BlockTask):
    type = "trellis.core.flow.Parallel"
    children_layout = "parallel"
    aliases = kestra_aliases("flow.Parallel", core_tasks="flows.Parallel")
    properties: ClassVar = (
        Prop("tasks", "tasks", required=True),
        Prop("concurrent", "integer", default=0, description="At most this many at once."),
        *BLOCK_PROPS,
    )

    def concurrency(self, task: TaskSpec, ctx: FlowableContext) -> int:
        value = ctx.render(task.properties.get("concurrent", 0))
        return int(value or 0)


PLUGINS = [Parallel]

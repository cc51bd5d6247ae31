"""``Sequential``: run child tasks one after the other, with ``errors`` and ``finally``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from kernel.engine.blocks import latest_by_task, run_block
from kernel.plugin import ChildStart, FlowableContext, FlowableTask, Prop, kestra_aliases
from kernel.states import State

if TYPE_CHECKING:
    from kernel.spec.model import TaskSpec

BLOCK_PROPS = (
    Prop("errors", "tasks", description="Run when a task of the block fails."),
    Prop("finally", "tasks", description="Run at the end, whatever happened."),
)


class BlockTask(FlowableTask):
    """A flowable made of one ``tasks`` list run as a block; subclasses set concurrency."""

    def concurrency(self, task: TaskSpec, ctx: FlowableContext) -> int:
        return 1

    def main_tasks(self, task: TaskSpec, ctx: FlowableContext) -> tuple[TaskSpec, ...]:
        """The block's main list (If picks a branch, Switch a case)."""
        return task.children.get("tasks", ())

    def _block(self, task: TaskSpec, ctx: FlowableContext) -> tuple[list[Any], State | None]:
        kids = task.children
        return run_block(
            self.main_tasks(task, ctx),
            kids.get("errors", ()),
            kids.get("finally", ()),
            latest_by_task(ctx.children()),
            concurrent=self.concurrency(task, ctx),
        )

    def next_runs(self, task: TaskSpec, ctx: FlowableContext) -> list[ChildStart]:
        return [ChildStart(t) for t in self._block(task, ctx)[0]]

    def resolve_state(self, task: TaskSpec, ctx: FlowableContext) -> State | None:
        return self._block(task, ctx)[1]


class Sequential(BlockTask):
    type = "trellis.core.flow.Sequential"
    aliases = kestra_aliases("flow.Sequential", core_tasks="flows.Sequential")
    properties: ClassVar = (Prop("tasks", "tasks", required=True), *BLOCK_PROPS)


PLUGINS = [Sequential]

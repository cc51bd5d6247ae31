"""``AllowFailure`` (deprecated in Kestra: set ``allowFailure: true`` on a task instead): a
sequential block whose failure counts as a warning, so the flow goes on.

The block's own ``errors`` still run when a task fails, then ``finally``; only the final
FAILED (or CANCELLED) becomes WARNING, as ``allowFailure`` does for one task.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from kernel.plugin import FlowableContext, Prop, kestra_aliases
from kernel.states import State
from plugins.core.flow.sequential import BLOCK_PROPS, BlockTask

if TYPE_CHECKING:
    from kernel.spec.model import TaskSpec


class AllowFailure(BlockTask):
    """Run ``tasks`` one after the other; a failure ends the block in WARNING."""

    type = "trellis.core.flow.AllowFailure"
    aliases = kestra_aliases("flow.AllowFailure", core_tasks="flows.AllowFailure")
    deprecated = "set allowFailure: true on the tasks instead"
    properties: ClassVar = (Prop("tasks", "tasks", required=True), *BLOCK_PROPS)

    def resolve_state(self, task: TaskSpec, ctx: FlowableContext) -> State | None:
        state = super().resolve_state(task, ctx)
        return State.WARNING if state in (State.FAILED, State.CANCELLED) else state


PLUGINS = [AllowFailure]

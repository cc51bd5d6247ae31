"""``If``: run ``then`` when the condition is truthy (Kestra's truthiness), else ``else``.

The condition is rendered once, when the If starts; the branch taken is remembered as the
decision so a re-plan never changes its mind. A chosen branch without tasks is a SUCCESS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from kernel.expressions.render import is_truthy
from kernel.plugin import FlowableContext, Prop, kestra_aliases
from plugins.core.flow.sequential import BLOCK_PROPS, BlockTask

if TYPE_CHECKING:
    from kernel.spec.model import TaskSpec

_EXAMPLE = """id: if_example
namespace: trellis.examples
inputs:
  - id: deploy
    type: BOOLEAN
    defaults: false
tasks:
  - id: maybe
    type: trellis.core.flow.If
    condition: "{{ inputs.deploy }}"
    then:
      - id: deploying
        type: io.kestra.plugin.core.log.Log
        message: deploying
    else:
      - id: dry_run
        type: io.kestra.plugin.core.log.Log
        message: nothing deployed
"""


class If(BlockTask):
    """Choose ``then`` or ``else`` from a condition ("false", "0", "-0", "" and null are
    false), then run the chosen branch as a block with ``errors`` and ``finally``."""

    type = "trellis.core.flow.If"
    aliases = kestra_aliases("flow.If", core_tasks="flows.If")
    properties: ClassVar = (
        Prop("condition", "any", required=True, description="Decided once, when If starts."),
        Prop("then", "tasks", required=True, description="Run when the condition is truthy."),
        Prop("else", "tasks", description="Run when the condition is falsy."),
        *BLOCK_PROPS,
    )
    examples = (_EXAMPLE,)

    def decide(self, task: TaskSpec, ctx: FlowableContext) -> dict[str, Any]:
        truthy = is_truthy(ctx.render(task.properties.get("condition")))
        return {"branch": "then" if truthy else "else"}

    def main_tasks(self, task: TaskSpec, ctx: FlowableContext) -> tuple[TaskSpec, ...]:
        return task.children.get(ctx.decision.get("branch", "then"), ())


PLUGINS = [If]

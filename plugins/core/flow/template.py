"""``Template`` (deprecated in Kestra): include a namespaced template's tasks and errors.

The runtime expands the template into this task's children when it loads the flow for an
execution (``executions.runtime.loading.expand_templates``); here it runs as a block.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from kernel.plugin import FlowableContext, Output, Prop, TaskFailed, kestra_aliases
from plugins.core.flow.sequential import BlockTask

if TYPE_CHECKING:
    from kernel.spec.model import TaskSpec

MISSING = "_template_missing"


class Template(BlockTask):
    type = "trellis.core.flow.Template"
    aliases = kestra_aliases("flow.Template", core_tasks="flows.Template")
    deprecated = "use a Subflow"
    properties: ClassVar = (
        Prop("namespace", "string", required=True, dynamic=False),
        Prop("templateId", "string", required=True, dynamic=False),
        Prop("tenantId", "string", dynamic=False),
        Prop("args", "map", default={}),
    )

    declared_outputs: ClassVar = (Output("args", "The rendered `args`.", "map"),)

    def decide(self, task: TaskSpec, ctx: FlowableContext) -> dict[str, Any]:
        if task.properties.get(MISSING):
            raise TaskFailed(str(task.properties[MISSING]))
        return {}

    def outputs(self, task: TaskSpec, ctx: FlowableContext) -> dict[str, Any]:
        """``args``, rendered: the template's tasks read them as ``parent.outputs.args``."""
        return {"args": ctx.render(task.properties.get("args") or {})}


PLUGINS = [Template]

"""Tasks that only produce outputs: ``Return`` and ``OutputValues``."""

from __future__ import annotations

from typing import Any, ClassVar

from kernel.plugin import Output, Prop, RunContext, RunnableTask, kestra_aliases


class Return(RunnableTask):
    """Render ``format`` and expose it as ``outputs.<task>.value``."""

    type = "trellis.core.debug.Return"
    aliases = kestra_aliases("debug.Return", core_tasks="debugs.Return")
    properties: ClassVar = (Prop("format", "any", description="The value to return."),)

    outputs: ClassVar = (Output("value", "The rendered `format`.", "any"),)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        value = props.get("format")
        ctx.logger.debug(f"Return {value!r}")
        return {"value": value}


class OutputValues(RunnableTask):
    """Expose a map of rendered values as ``outputs.<task>.values``."""

    type = "trellis.core.output.OutputValues"
    aliases = kestra_aliases("output.OutputValues", core_tasks="outputs.OutputValues")
    properties: ClassVar = (Prop("values", "map", default={}),)

    outputs: ClassVar = (Output("values", "The rendered `values` mapping.", "map"),)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        return {"values": props.get("values") or {}}


PLUGINS = [Return, OutputValues]

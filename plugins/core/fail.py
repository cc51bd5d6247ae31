"""``Fail``: end the task run FAILED, optionally only when a condition holds."""

from __future__ import annotations

from typing import Any, ClassVar

from kernel.expressions.render import is_truthy
from kernel.plugin import Prop, RunContext, RunnableTask, TaskFailed, kestra_aliases


class Fail(RunnableTask):
    type = "trellis.core.execution.Fail"
    aliases = kestra_aliases("execution.Fail", core_tasks="executions.Fail")
    properties: ClassVar = (
        Prop("condition", "any", description="Fail only when this renders truthy."),
        Prop("errorMessage", "string", default="Task failure"),
    )

    #: Returns nothing: it fails, or does nothing when `condition` is false.
    outputs: ClassVar = ()

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        condition = props.get("condition")
        if condition is not None and not is_truthy(condition):
            return {}
        raise TaskFailed(str(props.get("errorMessage") or "Task failure"))


PLUGINS = [Fail]

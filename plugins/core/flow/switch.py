"""``Switch``: run the tasks of the case matching the rendered value, or ``defaults``.

The value is rendered once, when the Switch starts, and compared as a string with the case
keys as written in the YAML. No matching case and no ``defaults`` fails the Switch.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar

from kernel.plugin import FlowableContext, Output, Prop, TaskFailed, kestra_aliases
from plugins.core.flow.sequential import BLOCK_PROPS, BlockTask

if TYPE_CHECKING:
    from kernel.spec.model import TaskSpec

#: Prefix of the ``TaskSpec.children`` keys a ``task_map`` property makes.
CASE = "cases."

_EXAMPLE = """id: switch_example
namespace: trellis.examples
inputs:
  - id: size
    type: SELECT
    values: [S, M, L]
    defaults: M
tasks:
  - id: by_size
    type: trellis.core.flow.Switch
    value: "{{ inputs.size }}"
    cases:
      S:
        - id: small
          type: io.kestra.plugin.core.log.Log
          message: small
      L:
        - id: large
          type: io.kestra.plugin.core.log.Log
          message: large
    defaults:
      - id: medium
        type: io.kestra.plugin.core.log.Log
        message: anything else
"""


class Switch(BlockTask):
    """Pick a case from a value; outputs ``value`` (as rendered) and ``defaults`` (whether
    no case matched)."""

    type = "trellis.core.flow.Switch"
    aliases = kestra_aliases("flow.Switch", core_tasks="flows.Switch")
    properties: ClassVar = (
        Prop("value", "string", required=True, description="Decided once, when Switch starts."),
        Prop("cases", "task_map", description="value -> tasks"),
        Prop("defaults", "tasks", description="Run when no case matches."),
        *BLOCK_PROPS,
    )
    examples = (_EXAMPLE,)

    declared_outputs: ClassVar = (
        Output("value", "The rendered `value` that chose the case.", "string"),
        Output("defaults", "Whether no case matched and `defaults` ran.", "boolean"),
    )

    def decide(self, task: TaskSpec, ctx: FlowableContext) -> dict[str, Any]:
        text = as_text(ctx.render(task.properties.get("value")))
        if CASE + text in task.children:
            return {"value": text, "branch": CASE + text, "defaults": False}
        if task.children.get("defaults"):
            return {"value": text, "branch": "defaults", "defaults": True}
        cases = ", ".join(k[len(CASE) :] for k in task.children if k.startswith(CASE))
        raise TaskFailed(
            f"Switch: no case matches the value {text!r} (cases: {cases or 'none'}) "
            "and there are no defaults"
        )

    def main_tasks(self, task: TaskSpec, ctx: FlowableContext) -> tuple[TaskSpec, ...]:
        return task.children.get(ctx.decision.get("branch", ""), ())

    def outputs(self, task: TaskSpec, ctx: FlowableContext) -> dict[str, Any]:
        return {"value": ctx.decision.get("value"), "defaults": ctx.decision.get("defaults")}


def as_text(value: Any) -> str:
    """A rendered value as the string Kestra compares with the case keys."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


PLUGINS = [Switch]

"""``Subflow``: start another flow as a child execution, and (by default) wait for it.

The executor asks the runtime to create the child (``StartSubflow``); when the child ends,
the runtime writes its state and outputs on this task run and wakes the parent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from kernel.engine.plan import StartSubflow
from kernel.plugin import ChildStart, FlowableContext, FlowableTask, Output, Prop, kestra_aliases
from kernel.states import State
from plugins.core.execution import label_pairs

if TYPE_CHECKING:
    from kernel.spec.model import TaskSpec


class Subflow(FlowableTask):
    type = "trellis.core.flow.Subflow"
    aliases = (
        *kestra_aliases("flow.Subflow", core_tasks="flows.Subflow"),
        "io.kestra.core.tasks.flows.Flow",
        "org.kestra.core.tasks.flows.Flow",
    )
    properties: ClassVar = (
        Prop("namespace", "string", required=True),
        Prop("flowId", "string", required=True),
        Prop("revision", "integer"),
        Prop("inputs", "map", default={}),
        Prop("labels", "any", default={}),
        Prop("wait", "boolean", default=True),
        Prop("transmitFailed", "boolean", default=True),
        Prop("inheritLabels", "boolean", default=False),
        Prop("scheduleDate", "string"),
        Prop("outputs", "map", deprecated="declare outputs on the subflow instead"),
    )
    #: Each attempt is a child execution; a retry starts a new one.
    retries_by_effects = True

    declared_outputs: ClassVar = (
        Output("executionId", "The subflow's execution.", "string"),
        Output("state", "Its final state (with `wait: true`).", "string"),
        Output("outputs", "Its flow outputs (with `wait: true`).", "map"),
    )

    def effects(self, task: TaskSpec, ctx: FlowableContext) -> list[Any]:
        props = task.properties
        labels = label_pairs(ctx.render(props.get("labels") or {}))
        if props.get("inheritLabels"):
            # `labels` also nests dotted keys (labels.system.correlationId): keep the flat ones
            flat = {k: v for k, v in (ctx.render("{{ labels }}") or {}).items()
                    if not isinstance(v, dict)}  # fmt: skip
            labels = {**label_pairs(flat), **labels}
        revision = props.get("revision")
        return [
            StartSubflow(
                task_run_id=ctx.run.id,
                namespace=str(ctx.render(props["namespace"])),
                flow_id=str(ctx.render(props["flowId"])),
                revision=int(ctx.render(revision)) if revision not in (None, "") else None,
                inputs=ctx.render(props.get("inputs") or {}),
                labels=labels,
                wait=bool(props.get("wait", True)),
                transmit_failed=bool(props.get("transmitFailed", True)),
            )
        ]

    def next_runs(self, task: TaskSpec, ctx: FlowableContext) -> list[ChildStart]:
        return []

    def resolve_state(self, task: TaskSpec, ctx: FlowableContext) -> State | None:
        return None  # the runtime ends this run when the child execution ends


PLUGINS = [Subflow]

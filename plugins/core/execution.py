"""Tasks that act on the execution itself: ``Exit`` and ``Labels``.

Both only decide (no I/O), so they are evaluated by the executor: Exit ends the execution in
the state it names, Labels merges labels into the execution's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from kernel.engine.plan import ResumeExecution, SetLabels
from kernel.plugin import (
    ChildStart,
    FlowableContext,
    FlowableTask,
    Output,
    Prop,
    TaskFailed,
    kestra_aliases,
)
from kernel.states import State

if TYPE_CHECKING:
    from kernel.spec.model import TaskSpec

EXIT_STATES = {
    "SUCCESS": State.SUCCESS,
    "WARNING": State.WARNING,
    "KILLED": State.KILLED,
    "FAILED": State.FAILED,
    "CANCELED": State.CANCELLED,
    "CANCELLED": State.CANCELLED,
}


class _Leaf(FlowableTask):
    """A flowable with no children: it ends as soon as it is planned."""

    def next_runs(self, task: TaskSpec, ctx: FlowableContext) -> list[ChildStart]:
        return []


class Exit(_Leaf):
    """End the execution now, in the given state; what still runs is killed."""

    type = "trellis.core.execution.Exit"
    aliases = kestra_aliases("execution.Exit", core_tasks="executions.Exit")
    ends_execution = True
    properties: ClassVar = (Prop("state", "string", default="SUCCESS", choices=tuple(EXIT_STATES)),)

    declared_outputs: ClassVar = (Output("state", "The state the execution ended in.", "string"),)

    def decide(self, task: TaskSpec, ctx: FlowableContext) -> Mapping[str, Any]:
        name = str(ctx.render(task.properties.get("state", "SUCCESS"))).upper()
        if name not in EXIT_STATES:
            raise TaskFailed(f"Exit state must be one of {', '.join(EXIT_STATES)}, not {name!r}")
        return {"state": str(EXIT_STATES[name])}

    def resolve_state(self, task: TaskSpec, ctx: FlowableContext) -> State | None:
        return State(ctx.decision["state"])

    def outputs(self, task: TaskSpec, ctx: FlowableContext) -> dict[str, Any]:
        return {"state": ctx.decision["state"]}


def label_pairs(raw: Any) -> dict[str, str]:
    """Labels written as a map or as a list of ``{key, value}``."""
    if isinstance(raw, Mapping):
        return {str(k): str(v) for k, v in raw.items()}
    if isinstance(raw, list):
        pairs = {}
        for item in raw:
            if not isinstance(item, Mapping) or "key" not in item:
                raise TaskFailed(f"a label must be a map with key and value, not {item!r}")
            pairs[str(item["key"])] = str(item.get("value", ""))
        return pairs
    raise TaskFailed(f"labels must be a map or a list of key/value pairs, not {raw!r}")


class Labels(_Leaf):
    """Add or replace labels on the running execution."""

    type = "trellis.core.execution.Labels"
    aliases = kestra_aliases("execution.Labels", core_tasks="executions.Labels")
    properties: ClassVar = (Prop("labels", "any", required=True),)

    def decide(self, task: TaskSpec, ctx: FlowableContext) -> Mapping[str, Any]:
        rendered = ctx.render(task.properties.get("labels"))
        if isinstance(rendered, str):
            import json

            try:
                rendered = json.loads(rendered)
            except ValueError as exc:
                raise TaskFailed(f"labels must render to a map or list: {exc}") from exc
        return {"labels": label_pairs(rendered)}

    def effects(self, task: TaskSpec, ctx: FlowableContext) -> list[Any]:
        return [SetLabels(ctx.decision["labels"])]

    def resolve_state(self, task: TaskSpec, ctx: FlowableContext) -> State | None:
        return State.SUCCESS


class Resume(_Leaf):
    """Resume a PAUSED execution (by default the one this task belongs to... which cannot be
    paused while it runs, so ``executionId`` is in practice always given)."""

    type = "trellis.core.execution.Resume"
    aliases = kestra_aliases("execution.Resume", core_tasks="executions.Resume")
    properties: ClassVar = (
        Prop("executionId", "string", description="The paused execution to resume."),
        Prop("inputs", "map", default={}, description="Answers to the Pause's onResume."),
    )

    def effects(self, task: TaskSpec, ctx: FlowableContext) -> list[Any]:
        target = task.properties.get("executionId") or "{{ execution.id }}"
        return [
            ResumeExecution(
                task_run_id=ctx.run.id,
                execution_id=str(ctx.render(target)),
                inputs=ctx.render(task.properties.get("inputs") or {}),
            )
        ]

    def resolve_state(self, task: TaskSpec, ctx: FlowableContext) -> State | None:
        return None  # the runtime ends this run once the other execution is resumed


PLUGINS = [Exit, Labels, Resume]

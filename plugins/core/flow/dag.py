"""``Dag``: each task starts once every task it depends on has ended well (SUCCESS, WARNING or
SKIPPED); at most ``concurrent`` run at a time (0: no limit). A failure stops new starts;
once what runs has ended, ``errors`` (after a failure) and ``finally`` run.

Unknown ``dependsOn`` ids and cycles are refused at deploy by ``kernel.spec.tasks.parse_dag``
(every ``dag`` property gets that check, with Kestra's wording); :meth:`Dag.validate` adds
what is particular to this type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from kernel.engine.blocks import close_block, effective_state, latest_by_task
from kernel.plugin import (
    ChildStart,
    FlowableContext,
    FlowableTask,
    Prop,
    TaskFailed,
    kestra_aliases,
)
from kernel.states import FAILING, SUCCESSFUL, TERMINAL, State, worst
from plugins.core.flow.sequential import BLOCK_PROPS

if TYPE_CHECKING:
    from kernel.spec.model import TaskSpec

_EXAMPLE = """id: dag_example
namespace: trellis.examples
tasks:
  - id: build
    type: trellis.core.flow.Dag
    concurrent: 2
    tasks:
      - task:
          id: fetch
          type: io.kestra.plugin.core.log.Log
          message: fetching
      - task:
          id: lint
          type: io.kestra.plugin.core.log.Log
          message: linting
        dependsOn: [fetch]
      - task:
          id: test
          type: io.kestra.plugin.core.log.Log
          message: testing
        dependsOn: [fetch]
      - task:
          id: publish
          type: io.kestra.plugin.core.log.Log
          message: publishing
        dependsOn: [lint, test]
"""


class Dag(FlowableTask):
    """Run tasks in dependency order, independent ones side by side."""

    type = "trellis.core.flow.Dag"
    children_layout = "dag"
    aliases = kestra_aliases("flow.Dag", core_tasks="flows.Dag")
    properties: ClassVar = (
        Prop("tasks", "dag", required=True, description="Items {task, dependsOn}."),
        Prop("concurrent", "integer", default=0, description="At most this many at once."),
        *BLOCK_PROPS,
    )
    examples = (_EXAMPLE,)

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        concurrent = props.get("concurrent")
        if isinstance(concurrent, int) and not isinstance(concurrent, bool) and concurrent < 0:
            return [("concurrent", "must be 0 (no limit) or more")]
        return []

    def decide(self, task: TaskSpec, ctx: FlowableContext) -> dict[str, Any]:
        raw = task.properties.get("concurrent")
        value = ctx.render(raw) if raw is not None else 0
        try:
            limit = int(value or 0)
        except (TypeError, ValueError):
            raise TaskFailed(f"concurrent must be an integer, not {value!r}") from None
        if limit < 0:
            raise TaskFailed(f"concurrent must be 0 (no limit) or more, not {limit}")
        return {"concurrency": limit}

    def _plan(self, task: TaskSpec, ctx: FlowableContext) -> tuple[list[ChildStart], State | None]:
        """Children to start now, and the Dag's state once it is over."""
        depends: Mapping[str, list[str]] = task.properties.get("dependsOn") or {}
        limit = int(ctx.decision.get("concurrency", 0))
        runs = latest_by_task(ctx.children())
        ended: dict[str, State] = {}
        active = 0
        waiting: list[TaskSpec] = []
        for child in task.children.get("tasks", ()):
            run = runs.get(child.id)
            if run is None:
                if child.disabled:
                    ended[child.id] = State.SKIPPED
                else:
                    waiting.append(child)
            elif run.state in TERMINAL:
                ended[child.id] = effective_state(child, run.state)
            else:
                active += 1
        state = worst(list(ended.values()))
        if state not in FAILING:
            ready = [
                t for t in waiting if all(ended.get(d) in SUCCESSFUL for d in depends.get(t.id, ()))
            ]
            room = len(ready) if limit <= 0 else max(limit - active, 0)
            if ready[:room]:
                return [ChildStart(t) for t in ready[:room]], None
        if active:
            return [], None
        # Nothing runs and nothing can start: a failure (or nothing left) ends the main part.
        kids = task.children
        closing, final = close_block(state, kids.get("errors", ()), kids.get("finally", ()), runs)
        return [ChildStart(t) for t in closing], final

    def next_runs(self, task: TaskSpec, ctx: FlowableContext) -> list[ChildStart]:
        return self._plan(task, ctx)[0]

    def resolve_state(self, task: TaskSpec, ctx: FlowableContext) -> State | None:
        return self._plan(task, ctx)[1]


PLUGINS = [Dag]

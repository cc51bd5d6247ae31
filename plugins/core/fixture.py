"""``Fixture``: what a flow unit test puts in place of a task it must not run.

``trellis flow test`` rewrites the flow it tests, replacing every task named in a test case's
``fixtures.tasks`` by this type, so the real task's side effects never happen while the
rest of the flow runs for real on the workers. The task run ends in the given state with the
given outputs, exactly as the replaced task would have reported them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from kernel.plugin import Prop, RunContext, RunnableTask, TaskResult
from kernel.states import State

#: States a fixture may end in (the ones a task run can end in by itself).
FIXTURE_STATES = ("SUCCESS", "WARNING", "FAILED", "KILLED", "SKIPPED")


class Fixture(RunnableTask):
    type = "trellis.core.test.Fixture"
    properties: ClassVar = (
        Prop("outputs", "map", dynamic=False, default=None,
             description="The outputs the replaced task reports."),
        Prop("state", "string", dynamic=False, default="SUCCESS", choices=FIXTURE_STATES,
             description="The state the task run ends in."),
        Prop("replaces", "string", dynamic=False, description="The type it stands in for."),
    )  # fmt: skip

    #: Returns whatever its `outputs` property holds: no fixed keys to declare.
    outputs: ClassVar = ()

    def run(self, props: dict[str, Any], ctx: RunContext) -> TaskResult:
        replaced = props.get("replaces") or "the task"
        ctx.logger.info(f"test fixture: {replaced} was not run")
        return TaskResult(outputs=dict(props.get("outputs") or {}), state=State(props["state"]))


PLUGINS = [Fixture]

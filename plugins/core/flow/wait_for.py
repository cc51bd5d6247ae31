"""``WaitFor``: run ``tasks`` again and again until ``condition`` renders truthy.

As in Kestra 0.21 (the corpus's version) the condition is the exit test: it is rendered after
each complete iteration and the loop stops once it is truthy (``waitfor-max-iterations.yaml``,
whose condition never holds, must end FAILED). ``checkFrequency`` bounds the loop:
``maxIterations`` iterations at most (default 100), ``maxDuration`` since the WaitFor started
(default PT1H), and ``interval`` between two iterations (default PT1S). Reaching a bound ends
the loop in SUCCESS, or FAILED with ``failOnMaxReached``. A failed iteration ends the loop
(FAILED); ``errors`` then ``finally`` run as in any block.

``outputs.<id>.iterationCount`` is the number of the iteration running (1 for the first),
visible to the iteration's tasks and to the condition.

Each iteration makes new task runs. A task run is unique per (parent, task, value), so the
runs of iteration N carry the value ``"N"`` (and no ``iteration``, which would make
``kernel.engine.context`` key their outputs by that value). The interval is not slept anywhere:
it becomes the WaitFor's due time (``wake_at``), kept in the database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from kernel.durations import DurationError, parse_duration
from kernel.engine.blocks import close_block, latest_by_task, run_phase
from kernel.expressions.render import is_truthy
from kernel.plugin import (
    ChildStart,
    FlowableContext,
    FlowableTask,
    Output,
    Prop,
    TaskFailed,
    kestra_aliases,
)
from kernel.spec.common import templated
from kernel.states import FAILING, State, worst
from plugins.core.flow.sequential import BLOCK_PROPS

if TYPE_CHECKING:
    from kernel.engine.snapshot import TaskRunSnapshot
    from kernel.spec.model import TaskSpec

#: checkFrequency keys and their defaults (Kestra's).
FREQUENCY_DEFAULTS: Mapping[str, Any] = {
    "maxIterations": 100,
    "maxDuration": "PT1H",
    "interval": "PT1S",
}

_EXAMPLE = """id: wait_for_example
namespace: trellis.examples
tasks:
  - id: poll
    type: trellis.core.flow.WaitFor
    condition: "{{ outputs.probe.value == '3' }}"
    checkFrequency:
      maxIterations: 10
      interval: PT5S
    failOnMaxReached: true
    tasks:
      - id: probe
        type: io.kestra.plugin.core.debug.Return
        format: "{{ outputs.poll.iterationCount }}"
"""


class WaitFor(FlowableTask):
    """Repeat ``tasks`` until ``condition`` holds, within ``checkFrequency``'s bounds."""

    type = "trellis.core.flow.WaitFor"
    #: Kestra 0.22 renamed WaitFor to LoopUntil, with the same properties.
    aliases = (
        *kestra_aliases("flow.WaitFor", core_tasks="flows.WaitFor"),
        "io.kestra.plugin.core.flow.LoopUntil",
    )
    properties: ClassVar = (
        Prop("condition", "any", required=True, description="The loop stops once truthy."),
        Prop("tasks", "tasks", required=True, description="One iteration."),
        Prop(
            "checkFrequency",
            "map",
            default=dict(FREQUENCY_DEFAULTS),
            description="maxIterations, maxDuration, interval.",
        ),
        Prop("failOnMaxReached", "boolean", default=False, description="FAILED at a bound."),
        *BLOCK_PROPS,
    )
    examples = (_EXAMPLE,)

    declared_outputs: ClassVar = (
        Output("iterationCount", "How many times the tasks ran.", "integer"),
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        frequency = props.get("checkFrequency")
        if not isinstance(frequency, Mapping):
            return []
        problems: list[tuple[str, str]] = []
        for key, value in frequency.items():
            path = f"checkFrequency.{key}"
            if key not in FREQUENCY_DEFAULTS:
                allowed = ", ".join(FREQUENCY_DEFAULTS)
                problems.append((path, f"unknown checkFrequency key {key!r} ({allowed})"))
            elif value is None or templated(value):
                continue
            elif key == "maxIterations":
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    problems.append((path, f"must be an integer of 1 or more, not {value!r}"))
            else:
                try:
                    parse_duration(value)
                except DurationError as exc:
                    problems.append((path, str(exc)))
        return problems

    def decide(self, task: TaskSpec, ctx: FlowableContext) -> dict[str, Any]:
        """The bounds, rendered once: they hold for the whole loop."""
        raw = {**FREQUENCY_DEFAULTS, **(task.properties.get("checkFrequency") or {})}
        frequency = ctx.render(raw)
        try:
            limit = int(frequency.get("maxIterations", 100))
            budget = parse_duration(frequency.get("maxDuration", "PT1H"))
            interval = parse_duration(frequency.get("interval", "PT1S"))
        except (TypeError, ValueError) as exc:  # DurationError is a ValueError
            raise TaskFailed(f"checkFrequency: {exc}") from None
        fail = is_truthy(ctx.render(task.properties.get("failOnMaxReached", False)))
        return {
            "maxIterations": limit,
            "maxDuration": budget.total_seconds(),
            "interval": interval.total_seconds(),
            "failOnMaxReached": fail,
        }

    def _plan(
        self, task: TaskSpec, ctx: FlowableContext
    ) -> tuple[list[ChildStart], State | None, datetime | None]:
        """Children to start now, the final state once the loop is over, and when to be
        asked again while the pause between two iterations lasts."""
        tasks: Sequence[TaskSpec] = task.children.get("tasks", ())
        iterations, handlers = _split(tasks, ctx.children())
        current = max(iterations, default=0)
        if not current:
            first = _iteration(tasks, 1)
            if not first:  # every task is disabled: nothing to wait for
                return (*self._close(task, State.SUCCESS, handlers), None)
            return first, None, None
        phase = run_phase(tasks, iterations[current])
        if not phase.done:
            return [ChildStart(t, str(current)) for t in phase.start], None, None
        ended = worst([run_phase(tasks, runs).state for runs in iterations.values()])
        if phase.state in FAILING:
            return (*self._close(task, phase.state, handlers), None)
        if is_truthy(ctx.render(task.properties.get("condition"))):
            return (*self._close(task, ended, handlers), None)
        decision = ctx.decision
        started = ctx.run.started_at
        budget = timedelta(seconds=float(decision.get("maxDuration", 3600)))
        if current >= int(decision.get("maxIterations", 100)) or (
            started is not None and ctx.now - started > budget
        ):
            state = State.FAILED if decision.get("failOnMaxReached") else ended
            return (*self._close(task, state, handlers), None)
        wake = self._pause_end(task, ctx, float(decision.get("interval", 1)))
        if wake is not None:
            return [], None, wake
        return _iteration(tasks, current + 1), None, None

    def _pause_end(self, task: TaskSpec, ctx: FlowableContext, seconds: float) -> datetime | None:
        """The end of the pause after an iteration while it lies ahead, else None.

        The pause starts on the first planning that finds the iteration over: its end is then
        remembered as the run's due time (a due time equal to the WaitFor's own timeout
        deadline is the engine's, not a pause).
        """
        if seconds <= 0:
            return None
        due = ctx.run.due_at
        if due is None or due == _deadline(task, ctx.run):
            return ctx.now + timedelta(seconds=seconds)
        return due if ctx.now < due else None

    def _close(
        self, task: TaskSpec, state: State, handlers: Mapping[str, TaskRunSnapshot]
    ) -> tuple[list[ChildStart], State | None]:
        kids = task.children
        closing, final = close_block(
            state, kids.get("errors", ()), kids.get("finally", ()), handlers
        )
        return [ChildStart(t) for t in closing], final

    def next_runs(self, task: TaskSpec, ctx: FlowableContext) -> list[ChildStart]:
        return self._plan(task, ctx)[0]

    def resolve_state(self, task: TaskSpec, ctx: FlowableContext) -> State | None:
        return self._plan(task, ctx)[1]

    def wake_at(self, task: TaskSpec, ctx: FlowableContext) -> datetime | None:
        return self._plan(task, ctx)[2]

    def outputs(self, task: TaskSpec, ctx: FlowableContext) -> dict[str, Any]:
        """The number of the iteration about to start, running, or last run."""
        tasks = task.children.get("tasks", ())
        ids = {t.id for t in tasks}
        starting = [s.value for s in self._plan(task, ctx)[0] if s.task.id in ids]
        if starting and starting[0] is not None:
            return {"iterationCount": int(starting[0])}
        iterations, _ = _split(tasks, ctx.children())
        return {"iterationCount": max(iterations, default=0)}


def _iteration(tasks: Sequence[TaskSpec], number: int) -> list[ChildStart]:
    return [ChildStart(t, str(number)) for t in run_phase(tasks, {}).start]


def _split(
    tasks: Sequence[TaskSpec], children: Sequence[TaskRunSnapshot]
) -> tuple[dict[int, dict[str, TaskRunSnapshot]], dict[str, TaskRunSnapshot]]:
    """Runs of ``tasks`` by iteration number (their value), and the latest run of every
    other child (``errors``/``finally``) by task id."""
    ids = {t.id for t in tasks}
    iterations: dict[int, dict[str, TaskRunSnapshot]] = {}
    others: list[TaskRunSnapshot] = []
    for run in children:
        if run.task_id in ids and run.value is not None and run.value.isdigit():
            iterations.setdefault(int(run.value), {})[run.task_id] = run
        elif run.task_id not in ids:
            others.append(run)
    return iterations, latest_by_task(others)


def _deadline(task: TaskSpec, run: TaskRunSnapshot) -> datetime | None:
    if not task.timeout or run.started_at is None:
        return None
    try:
        return run.started_at + parse_duration(task.timeout)
    except DurationError:
        return None


PLUGINS = [WaitFor]

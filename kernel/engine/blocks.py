"""The block rule every flowable with ``tasks``/``errors``/``finally`` shares (and the flow
itself): run the main tasks; if they fail, run ``errors``; then run ``finally`` whatever
happened. The block's state is the worst of what ran (a block whose ``errors`` ran is FAILED).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kernel.engine.snapshot import BY_SEQ
from kernel.states import FAILING, TERMINAL, State, worst

if TYPE_CHECKING:
    from kernel.engine.snapshot import TaskRunSnapshot
    from kernel.spec.model import TaskSpec


def effective_state(task: TaskSpec, state: State) -> State:
    """A child's state as its parent counts it: ``allowFailure`` turns a failure into a
    warning, ``allowWarning`` a warning into a success."""
    if task.allow_failure and state in (State.FAILED, State.CANCELLED):
        state = State.WARNING
    if task.allow_warning and state == State.WARNING:
        state = State.SUCCESS
    return state


@dataclass(frozen=True)
class Phase:
    start: list[TaskSpec]
    done: bool
    state: State = State.SUCCESS


def run_phase(
    tasks: Sequence[TaskSpec], runs: Mapping[str, TaskRunSnapshot], concurrent: int = 1
) -> Phase:
    """One list of tasks: which start now, and whether the list is over (with its state).

    ``concurrent`` 1 runs them one after the other, 0 all at once, N at most N at a time. A
    failure stops new starts; the list is over once what was started has ended.
    """
    pending: list[TaskSpec] = []
    active = 0
    states: list[State] = []
    for task in tasks:
        if task.disabled:
            continue
        run = runs.get(task.id)
        if run is None:
            pending.append(task)
        elif run.state not in TERMINAL:
            active += 1
        else:
            states.append(effective_state(task, run.state))
    state = worst(states)
    failed = state in FAILING
    if failed or not pending:
        return Phase([], active == 0, state)
    if concurrent == 1:
        return Phase([] if active else pending[:1], False, state)
    slots = len(pending) if concurrent <= 0 else max(concurrent - active, 0)
    return Phase(pending[:slots], False, state)


def run_block(
    main: Sequence[TaskSpec],
    errors: Sequence[TaskSpec],
    finally_: Sequence[TaskSpec],
    runs: Mapping[str, TaskRunSnapshot],
    *,
    concurrent: int = 1,
) -> tuple[list[TaskSpec], State | None]:
    """Tasks to start now, and the block's final state once everything in it has ended."""
    phase = run_phase(main, runs, concurrent)
    if not phase.done:
        return phase.start, None
    return close_block(phase.state, errors, finally_, runs)


def close_block(
    state: State,
    errors: Sequence[TaskSpec],
    finally_: Sequence[TaskSpec],
    runs: Mapping[str, TaskRunSnapshot],
) -> tuple[list[TaskSpec], State | None]:
    """After the main part ended in ``state``: ``errors`` if it failed, then ``finally``."""
    if state == State.FAILED and any(not t.disabled for t in errors):
        handled = run_phase(errors, runs)
        if not handled.done:
            return handled.start, None
        state = worst([State.FAILED, handled.state])
    closing = run_phase(finally_, runs)
    if not closing.done:
        return closing.start, None
    return [], worst([state, closing.state])


def latest_by_task(children: Sequence[TaskRunSnapshot]) -> dict[str, TaskRunSnapshot]:
    """task id -> its latest run among ``children`` (creation order)."""
    out: dict[str, TaskRunSnapshot] = {}
    for run in sorted(children, key=BY_SEQ):
        out[run.task_id] = run
    return out

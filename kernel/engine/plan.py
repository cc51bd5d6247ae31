"""What the engine decided: a list of actions, each saying which rule produced it.

Actions are plain data: the kernel says what is to happen, never how it is stored. Each
action type has exactly one applier in ``executions.runtime.appliers`` (registered with
``@applies(TheAction)``), and ``apply_plan`` there is the only code that turns a plan into
database writes. A new action is a class here (or in a plugin) plus its applier; a type in
``ACTIONS`` without one fails the runtime's import.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, get_args

from kernel.states import State


@dataclass(frozen=True)
class CreateTaskRun:
    #: Id chosen by the engine (uuid4 hex); persistence keeps it.
    id: str
    task_id: str
    parent_id: str | None
    value: str | None
    iteration: int | None
    state: State  # CREATED (flowables go straight to RUNNING) or SKIPPED
    #: True for a runnable task that must be sent to a worker.
    dispatch: bool
    queue: str = "default"
    #: A flowable's decision taken at creation (see FlowableTask.decide).
    decision: Mapping[str, Any] | None = None
    #: Outputs recorded at creation (a task run that ends as it is created).
    outputs: Mapping[str, Any] | None = None
    #: When the run is due (a Pause's delay or timeout).
    due_at: datetime | None = None
    #: Creation order within the execution (0: let persistence number it).
    seq: int = 0
    reason: str = ""


@dataclass(frozen=True)
class SetTaskRunState:
    id: str
    state: State
    outputs: Mapping[str, Any] | None = None
    decision: Mapping[str, Any] | None = None
    #: When the run is due again (RETRYING: its next attempt); None clears it.
    due_at: datetime | None = None
    reason: str = ""
    #: The named action that lets an ended run move (``kernel.states.REOPEN``: the retry
    #: policy's FAILED -> RETRYING); None for the ordinary moves.
    via: str | None = None


@dataclass(frozen=True)
class Dispatch:
    """Send a new attempt of an existing runnable task run (retry, restart)."""

    task_run_id: str
    queue: str = "default"
    reason: str = ""


@dataclass(frozen=True)
class SetExecutionState:
    state: State
    outputs: Mapping[str, Any] | None = None
    reason: str = ""


@dataclass(frozen=True)
class WakeAt:
    """Plan again at this time (retry delays, pause delays, timeouts)."""

    when: datetime
    task_run_id: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class SetLabels:
    """Merge labels into the execution's (the Labels task)."""

    labels: Mapping[str, str]


@dataclass(frozen=True)
class StartSubflow:
    """Create a child execution for a Subflow task run (done by the runtime: it needs I/O)."""

    task_run_id: str
    namespace: str
    flow_id: str
    revision: int | None = None
    inputs: Mapping[str, Any] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    wait: bool = True
    transmit_failed: bool = True


@dataclass(frozen=True)
class ResumeExecution:
    """Resume another PAUSED execution (the Resume task); the runtime ends the task run."""

    task_run_id: str
    execution_id: str
    inputs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LogLine:
    """A line the executor writes to a task run's log (why a run was skipped or failed)."""

    task_run_id: str | None
    level: str
    message: str


Action = (
    SetLabels
    | StartSubflow
    | LogLine
    | CreateTaskRun
    | SetTaskRunState
    | Dispatch
    | SetExecutionState
    | WakeAt
    | ResumeExecution
)

#: Every action type the kernel declares (plugins may add their own, e.g. ForEachItem's).
ACTIONS: tuple[type, ...] = get_args(Action)


@dataclass
class Plan:
    actions: list[Action] = field(default_factory=list)
    #: The earliest due time of a waiting task run after this plan (the execution's next
    #: wake-up), so persistence need not compute it again.
    due_at: datetime | None = None

    def __bool__(self) -> bool:
        return bool(self.actions)

    def add(self, action: Action) -> None:
        self.actions.append(action)

    def of(self, kind: type) -> list[Any]:
        return [a for a in self.actions if isinstance(a, kind)]

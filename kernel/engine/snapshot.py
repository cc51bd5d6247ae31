"""Plain, frozen data the pure engine plans over: an execution and its task runs.

Loaded by ``executions.runtime.persistence``; no Django objects cross this line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import Any

from kernel.states import State


@dataclass(frozen=True)
class TaskRunSnapshot:
    id: str
    task_id: str
    parent_id: str | None
    #: Loop value (ForEach) as a string, or None.
    value: str | None
    iteration: int | None
    state: State
    #: Number of attempts made so far (0 before the first dispatch).
    attempts: int = 0
    outputs: Mapping[str, Any] = field(default_factory=dict)
    #: A flowable's remembered decision (see FlowableTask.decide), or {}.
    decision: Mapping[str, Any] = field(default_factory=dict)
    #: When something is due for this run (retry, pause delay, timeout), if anything.
    due_at: datetime | None = None
    started_at: datetime | None = None
    #: Creation order within the execution.
    seq: int = 0
    #: Set when the user's work failed but a retry policy says try again (worker's verdict).
    retry_at: datetime | None = None


@dataclass(frozen=True)
class ExecutionSnapshot:
    id: str
    namespace: str
    flow_id: str
    flow_revision: int
    state: State
    inputs: Mapping[str, Any] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    variables: Mapping[str, Any] = field(default_factory=dict)
    trigger: Mapping[str, Any] | None = None
    task_runs: tuple[TaskRunSnapshot, ...] = ()
    started_at: datetime | None = None
    outputs: Mapping[str, Any] = field(default_factory=dict)

    def runs_by_parent(self) -> dict[str | None, list[TaskRunSnapshot]]:
        out: dict[str | None, list[TaskRunSnapshot]] = {}
        for tr in sorted(self.task_runs, key=lambda t: t.seq):
            out.setdefault(tr.parent_id, []).append(tr)
        return out


#: Sort key of task runs in creation order (a C getter: the engine sorts every run of an
#: execution on every hop).
BY_SEQ = attrgetter("seq")

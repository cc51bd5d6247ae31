"""The flow spec model: what a parsed flow is, as frozen data (``kernel.spec.parse`` builds it).

Kept apart from the parser so the section checkers (``kernel.spec.tasks``, ``inputs``,
``triggers``...) and everything downstream import the data classes without importing the
parser, which imports them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SpecProblem:
    filename: str
    line: int  # 1-based
    col: int  # 1-based
    path: str  # "tasks[2].then[0].message"; "" for the document itself
    message: str

    def __str__(self) -> str:
        where = f" ({self.path})" if self.path else ""
        return f"{self.filename}:{self.line}:{self.col}: {self.message}{where}"


class SpecError(ValueError):
    """A flow (or template) document is invalid; ``problems`` lists every problem found."""

    def __init__(self, problems: list[SpecProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class TaskSpec:
    id: str
    #: Canonical type name from the registry (aliases resolved).
    type: str
    #: The type name as written in the YAML.
    raw_type: str
    #: Declared properties other than child tasks and the common ones below, unrendered.
    properties: Mapping[str, Any] = field(default_factory=dict)
    #: Child task lists of a flowable, by property name ("tasks", "then", "else", "errors",
    #: "finally"); a task_map property contributes one entry per key as "cases.<key>".
    children: Mapping[str, tuple[TaskSpec, ...]] = field(default_factory=dict)
    description: str | None = None
    retry: Mapping[str, Any] | None = None
    timeout: str | None = None  # ISO-8601 duration, unrendered
    disabled: bool = False
    allow_failure: bool = False
    allow_warning: bool = False
    run_if: str | None = None
    worker_group: str | None = None
    log_level: str | None = None
    log_to_file: bool = False
    #: Where the task is in the document: "tasks[1].then[0]", and its line/column.
    path: str = ""
    line: int = 0
    col: int = 0

    def walk(self) -> Iterator[TaskSpec]:
        """This task and every task nested in it, depth first."""
        yield self
        for tasks in self.children.values():
            for t in tasks:
                yield from t.walk()


@dataclass(frozen=True)
class InputSpec:
    id: str
    type: (
        str  # STRING, INT, ... (upper case; ENUM normalised to SELECT is NOT done: kept as written)
    )
    #: Every other key of the input definition, as written (defaults, required, validator...).
    options: Mapping[str, Any] = field(default_factory=dict)
    path: str = ""
    line: int = 0
    col: int = 0

    @property
    def required(self) -> bool:
        return bool(self.options.get("required", True))


@dataclass(frozen=True)
class TriggerSpec:
    id: str
    type: str
    raw_type: str
    properties: Mapping[str, Any] = field(default_factory=dict)
    disabled: bool = False
    path: str = ""
    line: int = 0
    col: int = 0


@dataclass(frozen=True)
class FlowSpec:
    id: str
    namespace: str
    description: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    inputs: tuple[InputSpec, ...] = ()
    variables: Mapping[str, Any] = field(default_factory=dict)
    tasks: tuple[TaskSpec, ...] = ()
    errors: tuple[TaskSpec, ...] = ()
    finally_: tuple[TaskSpec, ...] = ()
    #: Kestra listeners: each {"conditions": [...], "tasks": tuple[TaskSpec, ...]}.
    listeners: tuple[Mapping[str, Any], ...] = ()
    #: Kestra's newer afterExecution tasks.
    after_execution: tuple[TaskSpec, ...] = ()
    triggers: tuple[TriggerSpec, ...] = ()
    #: Flow outputs: each {"id", "type", "value"} as written.
    outputs: tuple[Mapping[str, Any], ...] = ()
    concurrency: Mapping[str, Any] | None = None
    retry: Mapping[str, Any] | None = None
    disabled: bool = False
    plugin_defaults: tuple[Mapping[str, Any], ...] = ()
    #: Deprecation notes found while parsing (not errors).
    warnings: tuple[SpecProblem, ...] = ()

    def all_tasks(self) -> Iterator[TaskSpec]:
        for group in (self.tasks, self.errors, self.finally_, self.after_execution):
            for t in group:
                yield from t.walk()
        for listener in self.listeners:
            for t in listener.get("tasks", ()):
                yield from t.walk()

    def task(self, task_id: str) -> TaskSpec:
        """The task with this id anywhere in the flow (KeyError if none)."""
        index = self.__dict__.get("_index")
        if index is None:
            index = {t.id: t for t in self.all_tasks()}
            object.__setattr__(self, "_index", index)
        return index[task_id]


@dataclass(frozen=True)
class TemplateSpec:
    """A Kestra template: a named, namespaced list of tasks a Template task includes."""

    id: str
    namespace: str
    description: str | None = None
    tasks: tuple[TaskSpec, ...] = ()
    errors: tuple[TaskSpec, ...] = ()

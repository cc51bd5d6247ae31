"""YAML -> validated, frozen FlowSpec.

CONTRACT (other modules rely on these names):
  parse_flow(source: str | bytes, *, filename: str = "<flow>") -> FlowSpec
      raises SpecError carrying every problem at once (SpecProblem: filename, line, col,
      path like "tasks[2].then[0].message", message).
  parse_template(source, *, filename="<template>") -> TemplateSpec   (same errors)
  split_documents(source) -> list[Document(text, start_line)]   (one flow per document)
  FlowSpec / TaskSpec / InputSpec / TriggerSpec / TemplateSpec dataclasses below (frozen).

How it works: ``kernel.spec.yaml_loader`` builds a tree of values that remember their line and
column (refusing aliases, duplicate keys, non-UTF-8, >1 MiB, several documents); the
``spec_*`` modules check one section each against the plugin registry, reporting into one
collector, so a user sees every problem of a document at once, sorted by line. Pure: the
executor calls this on every flow load (cached by revision), so it stays a single pass.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from kernel.spec import yaml_loader
from kernel.spec.common import (
    FLOW_ID,
    FLOW_ID_MAX,
    NAMESPACE,
    NAMESPACE_MAX,
    Ctx,
    check_keys,
    check_value,
    expect_map,
)
from kernel.spec.expr import check_expressions
from kernel.spec.inputs import parse_inputs
from kernel.spec.parts import (
    parse_concurrency,
    parse_defaults,
    parse_labels,
    parse_listeners,
    parse_outputs,
)
from kernel.spec.tasks import parse_retry, parse_tasks
from kernel.spec.triggers import parse_triggers
from kernel.spec.yaml_loader import Document, Node


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


FLOW_KEYS = (
    "id", "namespace", "revision", "description", "labels", "inputs", "variables", "tasks",
    "errors", "finally", "listeners", "afterExecution", "triggers", "outputs", "concurrency",
    "retry", "disabled", "deleted", "pluginDefaults", "taskDefaults",
)  # fmt: skip
_TEMPLATE_KEYS = ("id", "namespace", "revision", "description", "tasks", "errors", "deleted")


def parse_flow(source: str | bytes, *, filename: str = "<flow>") -> FlowSpec:
    """Validate one flow document; raises SpecError listing every problem at once."""
    ctx, root = _start(source, filename)
    get = root.get
    check_keys(root, "", ctx, FLOW_KEYS, "flow")
    flow_id, namespace = _identity(root, ctx)
    description = _description(root, ctx)
    plugin_defaults = parse_defaults(get("pluginDefaults"), "pluginDefaults", ctx)
    plugin_defaults += parse_defaults(get("taskDefaults"), "taskDefaults", ctx)
    labels = parse_labels(get("labels"), ctx)
    inputs = parse_inputs(get("inputs"), ctx)
    variables = get("variables")
    if variables is not None and variables.value is not None:
        expect_map(variables, "variables", ctx, "variables")
    tasks = _required_tasks(root, ctx)
    errors = parse_tasks(get("errors"), "errors", ctx)
    finally_ = parse_tasks(get("finally"), "finally", ctx)
    listeners = parse_listeners(get("listeners"), ctx)
    if listeners:
        ctx.warn(
            root.key_pos("listeners"),
            "listeners",
            "`listeners` is deprecated; use `afterExecution`",
        )
    after_execution = parse_tasks(get("afterExecution"), "afterExecution", ctx)
    triggers = parse_triggers(get("triggers"), ctx)
    outputs = parse_outputs(get("outputs"), ctx)
    concurrency = parse_concurrency(get("concurrency"), ctx)
    retry = parse_retry(get("retry"), "retry", ctx) if get("retry") is not None else None
    disabled = get("disabled")
    if disabled is not None:
        check_value(disabled, "disabled", ctx, "boolean")
    check_expressions(root, ctx)
    _finish(ctx)
    return FlowSpec(
        id=flow_id,
        namespace=namespace,
        description=description,
        labels=labels,
        inputs=inputs,
        variables=variables.plain() if variables is not None and variables.is_map else {},
        tasks=tasks,
        errors=errors,
        finally_=finally_,
        listeners=listeners,
        after_execution=after_execution,
        triggers=triggers,
        outputs=outputs,
        concurrency=concurrency,
        retry=retry,
        disabled=disabled is not None and disabled.value is True,
        plugin_defaults=tuple(plugin_defaults),
        warnings=tuple(ctx.warnings),
    )


def parse_template(source: str | bytes, *, filename: str = "<template>") -> TemplateSpec:
    """Validate one template document (id, namespace, description, tasks, errors)."""
    ctx, root = _start(source, filename)
    check_keys(root, "", ctx, _TEMPLATE_KEYS, "template")
    template_id, namespace = _identity(root, ctx)
    description = _description(root, ctx)
    tasks = _required_tasks(root, ctx)
    errors = parse_tasks(root.get("errors"), "errors", ctx)
    check_expressions(root, ctx)
    _finish(ctx)
    return TemplateSpec(template_id, namespace, description, tasks, errors)


def split_documents(source: str | bytes) -> list[Document]:
    """Each document of a multi-document file with its 1-based starting line (see
    ``kernel.spec.yaml_loader.split_documents``); parse each with ``parse_flow``."""
    return yaml_loader.split_documents(source)


def _start(source: str | bytes, filename: str) -> tuple[Ctx, Node]:
    ctx = Ctx(filename)
    try:
        root, loading = yaml_loader.load(source)
    except yaml_loader.YamlProblem as exc:
        raise SpecError([SpecProblem(filename, exc.line, exc.col, exc.path, exc.message)]) from None
    for p in loading:
        ctx.error((p.line, p.col), "", p.message)
    if root is None or not root.is_map:
        where = (1, 1) if root is None else root
        what = "empty" if root is None else "not a mapping"
        ctx.error(
            where, "", f"the document is {what}; a flow needs at least id, namespace and tasks"
        )
        raise SpecError(ctx.problems)
    return ctx, root


def _finish(ctx: Ctx) -> None:
    if ctx.problems:
        # Two checks may find the same problem (the spec and a plugin's own validate): once.
        unique = list(dict.fromkeys(ctx.problems))
        raise SpecError(sorted(unique, key=lambda p: (p.line, p.col)))


def _identity(root: Node, ctx: Ctx) -> tuple[str, str]:
    values = []
    for key, pattern, limit, rule in (
        ("id", FLOW_ID, FLOW_ID_MAX, "letters, digits, '.', '_' and '-'"),
        ("namespace", NAMESPACE, NAMESPACE_MAX, "lower-case letters, digits, '.', '_' and '-'"),
    ):
        node = root.get(key)
        value = "" if node is None or node.value is None else str(node.value)
        if not value:
            ctx.error(node or root, key, f"missing `{key}`")
        elif isinstance(node.value, bool | list | dict) or not pattern.fullmatch(value):  # type: ignore[union-attr]
            ctx.error(
                node or root,
                key,
                f"invalid {key} {value!r}: use {rule}, starting with a letter or digit",
            )
        elif len(value) > limit:
            ctx.error(
                node or root, key, f"{key} is {len(value)} characters long; the limit is {limit}"
            )
        values.append(value)
    return values[0], values[1]


def _description(root: Node, ctx: Ctx) -> str | None:
    node = root.get("description")
    if node is None or node.value is None:
        return None
    check_value(node, "description", ctx, "string")
    return str(node.value)


def _required_tasks(root: Node, ctx: Ctx) -> tuple[TaskSpec, ...]:
    node = root.get("tasks")
    if node is None or node.value is None or (node.is_seq and not node.value):
        ctx.error(node or root, "tasks", "a flow needs at least one task in `tasks`")
        return ()
    return parse_tasks(node, "tasks", ctx)

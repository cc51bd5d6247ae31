"""YAML -> validated, frozen FlowSpec.

CONTRACT (other modules rely on these names):
  parse_flow(source: str | bytes, *, filename: str = "<flow>") -> FlowSpec
      raises SpecError carrying every problem at once (SpecProblem: filename, line, col,
      path like "tasks[2].then[0].message", message).
  parse_template(source, *, filename="<template>") -> TemplateSpec   (same errors)
  split_documents(source) -> list[Document(text, start_line)]   (one flow per document)
  FlowSpec / TaskSpec / InputSpec / TriggerSpec / TemplateSpec: frozen data in kernel.spec.model.

How it works: ``kernel.spec.yaml_loader`` builds a tree of values that remember their line and
column (refusing aliases, duplicate keys, non-UTF-8, >1 MiB, several documents); the
``spec_*`` modules check one section each against the plugin registry, reporting into one
collector, so a user sees every problem of a document at once, sorted by line. Pure: the
executor calls this on every flow load (cached by revision), so it stays a single pass.
"""

from __future__ import annotations

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
from kernel.spec.model import FlowSpec, SpecError, SpecProblem, TaskSpec, TemplateSpec
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

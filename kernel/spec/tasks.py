"""Task definitions -> TaskSpec, checked against each plugin's declared properties.

A task's keys are either common to every task (id, type, retry, timeout...) or declared by its
plugin as ``Prop``s. Child task lists (``tasks``, ``task_map``, ``dag`` kinds) are parsed
recursively, so ids are unique across the whole flow however deep they sit. Plugin defaults
are merged in before any check, so a default that breaks a task is reported too.
"""

from __future__ import annotations

from typing import Any

from kernel.plugin import PluginType, Prop, TriggerType
from kernel.registry import UnknownType, missing_requirement, registry
from kernel.spec.common import (
    LOG_LEVELS,
    TASK_ID,
    Ctx,
    check_keys,
    check_value,
    did_you_mean,
    expect_list,
    expect_map,
    join,
    templated,
)
from kernel.spec.model import TaskSpec
from kernel.spec.yaml_loader import Node

COMMON_TASK_KEYS = (
    "id",
    "type",
    "description",
    "retry",
    "timeout",
    "disabled",
    "allowFailure",
    "allowWarning",
    "runIf",
    "workerGroup",
    "logLevel",
    "logToFile",
)
_BOOL_KEYS = {
    "disabled": "disabled",
    "allowFailure": "allow_failure",
    "allowWarning": "allow_warning",
    "logToFile": "log_to_file",
}
_RETRY_KINDS = {
    "constant": ("interval",),
    "exponential": ("interval", "maxInterval"),
    "random": ("minInterval", "maxInterval"),
}
_RETRY_KEYS = {
    "type": "string",
    "interval": "duration",
    "maxAttempt": "integer",
    "maxAttempts": "integer",
    "maxDuration": "duration",
    "maxInterval": "duration",
    "minInterval": "duration",
    "delayFactor": "number",
    "warningOnRetry": "boolean",
    "behavior": "string",
}
_RETRY_BEHAVIORS = ("RETRY_FAILED_TASK", "CREATE_NEW_EXECUTION")
_CHILD_KEYS_WHEN_UNKNOWN = ("tasks", "then", "else", "errors", "finally")


def parse_tasks(node: Node | None, path: str, ctx: Ctx) -> tuple[Any, ...]:
    """A list of task definitions (``tasks``, ``errors``, ``then``...) -> TaskSpecs."""
    if not expect_list(node, path, ctx, "a task list"):
        return ()
    assert node is not None
    out = []
    for i, item in enumerate(node.value):
        task = parse_task(item, f"{path}[{i}]", ctx)
        if task is not None:
            out.append(task)
    return tuple(out)


def parse_task(node: Node, path: str, ctx: Ctx) -> Any:
    """One task definition -> TaskSpec, or None when it is too broken to describe."""

    if not node.is_map:
        ctx.error(node, path, "a task must be a mapping with at least `id` and `type`")
        return None
    task_id = _task_id(node, path, ctx)
    raw_type, cls = _task_type(node, path, ctx)
    fields = _with_defaults(node, raw_type, cls, ctx)
    if cls is None:
        _walk_unknown(fields, path, ctx)
        return None
    common = _common(fields, path, ctx)
    properties, children = _properties(node, fields, cls, path, ctx)
    if task_id is None:
        return None
    task = TaskSpec(
        id=task_id,
        type=cls.type,
        raw_type=raw_type or cls.type,
        properties=properties,
        children=children,
        path=path,
        line=node.line,
        col=node.col,
        **common,
    )
    return _with_synthetic_children(task, cls, node, ctx)


def _with_synthetic_children(task: Any, cls: type[PluginType], node: Node, ctx: Ctx) -> Any:
    """Tasks a plugin builds from its own properties (ForEachItem's split, items and merge
    tasks), added to its children so the engine and workers see ordinary tasks. Their ids
    must be free in the flow like any other."""
    build = getattr(cls, "synthetic_children", None)
    if not callable(build):
        return task
    from dataclasses import replace

    extra = build(task)
    for tasks in extra.values():
        for child in tasks:
            first = ctx.task_ids.get(child.id.lower())
            if first is not None:
                ctx.error(
                    node.get("id") or node,
                    join(task.path, "id"),
                    f"task {task.id!r} needs the id {child.id!r} for an internal task, but "
                    f"line {first[1]} uses it",
                )
            else:
                ctx.task_ids[child.id.lower()] = (child.id, node.line)
    return replace(task, children={**task.children, **extra})


def _task_id(node: Node, path: str, ctx: Ctx) -> str | None:
    id_node = node.get("id")
    if id_node is None or id_node.value in (None, ""):
        ctx.error(node, join(path, "id"), "missing task `id`")
        return None
    value = id_node.value
    if not isinstance(value, str | int) or isinstance(value, bool):
        ctx.error(id_node, join(path, "id"), "a task id must be a string")
        return None
    task_id = str(value)
    if not TASK_ID.fullmatch(task_id):
        ctx.error(
            id_node,
            join(path, "id"),
            f"invalid task id {task_id!r}: use letters, digits, '_' and '-', "
            "starting with a letter or digit",
        )
    first = ctx.task_ids.get(task_id.lower())
    if first is None:
        ctx.task_ids[task_id.lower()] = (task_id, id_node.line)
    elif first[0] == task_id:
        ctx.error(
            id_node,
            join(path, "id"),
            f"duplicate task id {task_id!r} (first used on line {first[1]})",
        )
    else:
        ctx.error(
            id_node,
            join(path, "id"),
            f"task id {task_id!r} differs only by case from {first[0]!r} (line {first[1]})",
        )
    return task_id


def _task_type(node: Node, path: str, ctx: Ctx) -> tuple[str | None, type[PluginType] | None]:
    type_node = node.get("type")
    if type_node is None or type_node.value in (None, ""):
        ctx.error(node, join(path, "type"), "missing task `type`")
        return None, None
    raw = type_node.value
    if not isinstance(raw, str):
        ctx.error(type_node, join(path, "type"), "a task type must be a string")
        return None, None
    try:
        cls = registry.get(raw)
    except UnknownType as exc:
        ctx.unknown_types.add(raw)
        ctx.error(type_node, join(path, "type"), str(exc))
        return raw, None
    if issubclass(cls, TriggerType) or getattr(cls, "kind", None) not in ("runnable", "flowable"):
        ctx.error(type_node, join(path, "type"), f"{raw!r} is not a task type")
        return raw, None
    missing = missing_requirement(cls)
    if missing:
        ctx.error(type_node, join(path, "type"), missing)
    deprecated = getattr(cls, "deprecated", None)  # optional class attribute: a message
    if isinstance(deprecated, str) and deprecated:
        ctx.warn(type_node, join(path, "type"), f"{raw!r} is deprecated: {deprecated}")
    return raw, cls


def _with_defaults(
    node: Node, raw_type: str | None, cls: type[PluginType] | None, ctx: Ctx
) -> dict[str, Node]:
    """The task's keys with matching plugin defaults merged in (forced ones override)."""
    fields = dict(node.value)
    if not ctx.defaults or raw_type is None:
        return fields
    names = {raw_type} | ({cls.type, *cls.aliases} if cls is not None else set())
    for prefix, values, forced in ctx.defaults:
        if not any(name.startswith(prefix) for name in names):
            continue
        for key, value in values.value.items():
            if key in ("id", "type"):
                continue
            if forced or key not in fields:
                fields[key] = value
    return fields


def _walk_unknown(fields: dict[str, Node], path: str, ctx: Ctx) -> None:
    """Type unknown: still check the usual child lists, so nested problems show up now."""
    for key in _CHILD_KEYS_WHEN_UNKNOWN:
        child = fields.get(key)
        if child is not None and child.is_seq:
            for i, item in enumerate(child.value):
                if item.is_map and "type" in item.value:
                    parse_task(item, f"{path}.{key}[{i}]", ctx)


#: Scalar common keys: YAML key -> (TaskSpec field, kind, allowed values).
_SCALAR_KEYS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "description": ("description", "string", ()),
    "timeout": ("timeout", "duration", ()),
    "runIf": ("run_if", "string", ()),
    "logLevel": ("log_level", "string", LOG_LEVELS),
}


def _common(fields: dict[str, Node], path: str, ctx: Ctx) -> dict[str, Any]:
    """The keys every task accepts, as TaskSpec keyword arguments."""
    out: dict[str, Any] = {}
    for key, attr in _BOOL_KEYS.items():
        node = fields.get(key)
        if node is not None and node.value is not None:
            good = check_value(node, join(path, key), ctx, "boolean")
            out[attr] = good and node.value is True
    for key, (attr, kind, choices) in _SCALAR_KEYS.items():
        node = fields.get(key)
        if node is None or node.value is None:
            continue
        if check_value(node, join(path, key), ctx, kind, choices):
            value = node.value
            out[attr] = str(value).lower() if isinstance(value, bool) else str(value)
    node = fields.get("workerGroup")
    if node is not None and expect_map(node, join(path, "workerGroup"), ctx, "workerGroup"):
        out["worker_group"] = _worker_group(node, join(path, "workerGroup"), ctx)
    node = fields.get("retry")
    if node is not None:
        out["retry"] = parse_retry(node, join(path, "retry"), ctx)
    return out


def _worker_group(node: Node, path: str, ctx: Ctx) -> str | None:
    check_keys(node, path, ctx, ("key", "fallback"), "workerGroup")
    fallback = node.get("fallback")
    if fallback is not None:
        check_value(fallback, join(path, "fallback"), ctx, "string", ("FAIL", "WAIT", "CANCEL"))
    key = node.get("key")
    if key is None or key.value is None:
        ctx.error(node, join(path, "key"), "workerGroup needs a `key`")
        return None
    if not check_value(key, join(path, "key"), ctx, "string"):
        return None
    if not templated(key.value) and not TASK_ID.fullmatch(str(key.value)):
        ctx.error(key, join(path, "key"), f"invalid worker group key {key.value!r}")
    return str(key.value)


def parse_retry(node: Node, path: str, ctx: Ctx) -> dict[str, Any] | None:
    """A task's or flow's ``retry`` block, checked by its ``type``."""
    if not expect_map(node, path, ctx, "retry"):
        return None
    check_keys(node, path, ctx, _RETRY_KEYS, "retry")
    for key, kind in _RETRY_KEYS.items():
        value = node.get(key)
        if value is not None:
            check_value(value, join(path, key), ctx, kind)
    kind_node = node.get("type")
    if kind_node is None:
        ctx.error(node, join(path, "type"), "retry needs a `type`: constant, exponential or random")
    elif not isinstance(kind_node.value, str):
        pass  # reported above: `type` must be a string
    elif kind_node.value not in _RETRY_KINDS:
        hint = did_you_mean(str(kind_node.value), _RETRY_KINDS)
        ctx.error(kind_node, join(path, "type"), f"unknown retry type {kind_node.value!r}{hint}")
    else:
        for key in _RETRY_KINDS[kind_node.value]:
            if node.get(key) is None:
                ctx.error(node, join(path, key), f"a {kind_node.value} retry needs `{key}`")
    behavior = node.get("behavior")
    if behavior is not None:
        check_value(behavior, join(path, "behavior"), ctx, "string", _RETRY_BEHAVIORS)
    return node.plain()


def _properties(
    node: Node, fields: dict[str, Node], cls: type[PluginType], path: str, ctx: Ctx
) -> tuple[dict[str, Any], dict[str, tuple[Any, ...]]]:
    """Plugin properties (unrendered, by canonical name) and child task lists."""
    declared: dict[str, tuple[Prop, str, Node]] = {}
    for key, value in fields.items():
        if key in COMMON_TASK_KEYS:
            continue
        prop = cls.prop(key)
        kpath = join(path, key)
        if prop is None:
            names = [p.name for p in cls.properties] + list(COMMON_TASK_KEYS)
            hint = did_you_mean(key, names)
            ctx.error(
                node.keys.get(key, value), kpath, f"unknown property {key!r} for {cls.type}{hint}"
            )
            continue
        if prop.name in declared:
            ctx.error(node.keys.get(key, value), kpath, f"{key!r} repeats property {prop.name!r}")
            continue
        if prop.deprecated:
            ctx.warn(node.keys.get(key, value), kpath, f"{key!r} is deprecated: {prop.deprecated}")
        declared[prop.name] = (prop, key, value)
    ok = True
    for prop in cls.properties:
        found = declared.get(prop.name)
        if prop.required and (found is None or found[2].value is None):
            ctx.error(node, join(path, prop.name), f"missing required property {prop.name!r}")
            ok = False
    properties: dict[str, Any] = {}
    children: dict[str, tuple[Any, ...]] = {}
    for name, (prop, key, value) in declared.items():
        kpath = join(path, key)
        if prop.kind == "tasks":
            children[name] = parse_tasks(value, kpath, ctx)
            if prop.required and value.is_seq and not value.value:
                ctx.error(value, kpath, f"{key!r} must list at least one task")
        elif prop.kind == "task_map":
            if expect_map(value, kpath, ctx, key):
                for case, tasks in value.value.items():
                    children[f"{name}.{case}"] = parse_tasks(tasks, join(kpath, case), ctx)
        elif prop.kind == "dag":
            children[name], properties["dependsOn"] = parse_dag(value, kpath, ctx)
        elif value.value is not None:
            ok = _check_prop(prop, value, kpath, ctx) and ok
            properties[name] = value.plain()
    if ok:
        raw = {name: value.plain() for name, (_, _, value) in declared.items()}
        for sub, message in cls.validate(raw):
            head = sub.split(".", 1)[0].split("[", 1)[0]
            where = declared[head][2] if head in declared else node
            ctx.error(where, join(path, sub), message)
    return properties, children


def _check_prop(prop: Prop, value: Node, path: str, ctx: Ctx) -> bool:
    if prop.kind == "list" and prop.items and value.is_seq:
        good = check_value(value, path, ctx, "list")
        for i, item in enumerate(value.value):
            good = check_value(item, f"{path}[{i}]", ctx, prop.items, prop.choices) and good
        return good
    return check_value(value, path, ctx, prop.kind, prop.choices)


def parse_dag(node: Node, path: str, ctx: Ctx) -> tuple[tuple[Any, ...], dict[str, list[str]]]:
    """Dag items ``{task, dependsOn}`` -> (tasks, {taskId: [ids it waits for]}); refuses
    unknown ids and cycles with Kestra's wording."""
    if not expect_list(node, path, ctx, "dag tasks"):
        return (), {}
    tasks: list[Any] = []
    depends: dict[str, list[str]] = {}
    where: dict[str, tuple[Node, str]] = {}
    for i, item in enumerate(node.value):
        ipath = f"{path}[{i}]"
        if not expect_map(item, ipath, ctx, "a dag item"):
            continue
        check_keys(item, ipath, ctx, ("task", "dependsOn"), "dag item")
        task_node = item.get("task")
        if task_node is None:
            ctx.error(item, join(ipath, "task"), "a dag item needs a `task`")
            continue
        task = parse_task(task_node, join(ipath, "task"), ctx)
        deps_node = item.get("dependsOn")
        deps: list[str] = []
        if deps_node is not None and expect_list(
            deps_node, join(ipath, "dependsOn"), ctx, "dependsOn"
        ):
            deps = [str(d.value) for d in deps_node.value]
        if task is not None:
            tasks.append(task)
            depends[task.id] = deps
            where[task.id] = (deps_node or item, join(ipath, "dependsOn"))
    for task_id, deps in depends.items():
        for dep in deps:
            if dep not in depends:
                pos, dpath = where[task_id]
                ctx.error(pos, dpath, f"dag: Not existing task id in dependency: {dep}")
    cycle = _cycle(depends)
    if cycle:
        pos, dpath = where[cycle[0]]
        ctx.error(pos, dpath, f"dag: Cyclic dependency detected: {', '.join(cycle)}")
    return tuple(tasks), depends


def _cycle(depends: dict[str, list[str]]) -> list[str]:
    """Ids on the first dependency cycle found, in document order; [] when acyclic."""
    order = {task_id: i for i, task_id in enumerate(depends)}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(task_id: str) -> list[str]:
        state[task_id] = 1
        stack.append(task_id)
        for dep in depends.get(task_id, ()):
            if dep not in depends:
                continue
            if state.get(dep) == 1:
                return sorted(stack[stack.index(dep) :], key=order.__getitem__)
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[task_id] = 2
        return []

    for task_id in depends:
        if task_id not in state:
            found = visit(task_id)
            if found:
                return found
    return []

"""Smaller flow sections: labels, plugin defaults, outputs, concurrency and listeners."""

from __future__ import annotations

from typing import Any

from kernel.spec.common import (
    INPUT_ID,
    Ctx,
    check_keys,
    check_value,
    did_you_mean,
    expect_list,
    expect_map,
    join,
    templated,
)
from kernel.spec.inputs import INPUT_TYPES
from kernel.spec.tasks import parse_tasks
from kernel.spec.triggers import parse_conditions
from kernel.spec.yaml_loader import Node

CONCURRENCY_BEHAVIORS = ("QUEUE", "CANCEL", "FAIL")


def parse_labels(node: Node | None, ctx: Ctx) -> dict[str, str]:
    """Labels as a mapping or as a list of ``{key, value}``."""
    if node is None or node.value is None:
        return {}
    pairs: list[tuple[str, Node, Node, str]] = []
    if node.is_map:
        for key, value in node.value.items():
            pairs.append((key, Node(key, *node.key_pos(key)), value, join("labels", key)))
    elif node.is_seq:
        for i, item in enumerate(node.value):
            path = f"labels[{i}]"
            if not expect_map(item, path, ctx, "a label"):
                continue
            check_keys(item, path, ctx, ("key", "value"), "label")
            key, value = item.get("key"), item.get("value")
            if key is None or key.value in (None, ""):
                ctx.error(item, join(path, "key"), "a label needs a `key`")
                continue
            if value is None:
                ctx.error(item, join(path, "value"), "a label needs a `value`")
                continue
            pairs.append((str(key.value), key, value, join(path, "value")))
    else:
        ctx.error(node, "labels", "labels must be a mapping or a list of {key, value}")
        return {}
    labels: dict[str, str] = {}
    for key, key_node, value, path in pairs:
        if key in labels:
            ctx.error(key_node, path, f"duplicate label {key!r}")
            continue
        if value.value is None or value.is_map or value.is_seq:
            ctx.error(value, path, f"label {key!r} needs a plain value")
            continue
        labels[key] = (
            str(value.value).lower() if isinstance(value.value, bool) else str(value.value)
        )
    return labels


def parse_defaults(node: Node | None, name: str, ctx: Ctx) -> list[dict[str, Any]]:
    """``pluginDefaults`` / ``taskDefaults`` items ``{type, values, forced}``; remembered in
    ``ctx.defaults`` so tasks parsed afterwards get them."""
    if not expect_list(node, name, ctx, name):
        return []
    assert node is not None
    if name == "taskDefaults":
        ctx.warn(node, name, "`taskDefaults` is deprecated; use `pluginDefaults`")
    out = []
    for i, item in enumerate(node.value):
        path = f"{name}[{i}]"
        if not expect_map(item, path, ctx, "a plugin default"):
            continue
        check_keys(item, path, ctx, ("type", "values", "forced"), "plugin default")
        type_node, values, forced = item.get("type"), item.get("values"), item.get("forced")
        good = True
        if type_node is None or not isinstance(type_node.value, str) or not type_node.value:
            ctx.error(type_node or item, join(path, "type"), "a plugin default needs a `type`")
            good = False
        if values is None:
            ctx.error(item, join(path, "values"), "a plugin default needs `values`")
            good = False
        elif not expect_map(values, join(path, "values"), ctx, "values"):
            good = False
        if forced is not None and not check_value(forced, join(path, "forced"), ctx, "boolean"):
            good = False
        if good:
            assert type_node is not None
            assert values is not None
            ctx.defaults.append((type_node.value, values, bool(forced and forced.value)))
            out.append(item.plain())
    return out


def parse_outputs(node: Node | None, ctx: Ctx) -> tuple[dict[str, Any], ...]:
    if not expect_list(node, "outputs", ctx, "outputs"):
        return ()
    assert node is not None
    out, seen = [], set()
    for i, item in enumerate(node.value):
        path = f"outputs[{i}]"
        if not expect_map(item, path, ctx, "an output"):
            continue
        check_keys(
            item,
            path,
            ctx,
            ("id", "type", "value", "description", "required", "displayName"),
            "output",
        )
        id_node = item.get("id")
        if id_node is None or id_node.value in (None, ""):
            ctx.error(item, join(path, "id"), "an output needs an `id`")
        elif not INPUT_ID.fullmatch(str(id_node.value)):
            ctx.error(id_node, join(path, "id"), f"invalid output id {id_node.value!r}")
        elif id_node.value in seen:
            ctx.error(id_node, join(path, "id"), f"duplicate output id {id_node.value!r}")
        else:
            seen.add(id_node.value)
        type_node = item.get("type")
        if type_node is None:
            ctx.error(item, join(path, "type"), "an output needs a `type`")
        elif type_node.value not in INPUT_TYPES:
            hint = did_you_mean(str(type_node.value), INPUT_TYPES)
            ctx.error(
                type_node, join(path, "type"), f"unknown output type {type_node.value!r}{hint}"
            )
        if item.get("value") is None:
            ctx.error(item, join(path, "value"), "an output needs a `value`")
        out.append(item.plain())
    return tuple(out)


def parse_concurrency(node: Node | None, ctx: Ctx) -> dict[str, Any] | None:
    if not expect_map(node, "concurrency", ctx, "concurrency"):
        return None
    assert node is not None
    check_keys(node, "concurrency", ctx, ("limit", "behavior"), "concurrency")
    limit = node.get("limit")
    if limit is None:
        ctx.error(node, "concurrency.limit", "concurrency needs a `limit`")
    elif (
        check_value(limit, "concurrency.limit", ctx, "integer")
        and not templated(limit.value)
        and limit.value < 1
    ):
        ctx.error(limit, "concurrency.limit", "the concurrency limit must be at least 1")
    behavior = node.get("behavior")
    if behavior is not None:
        check_value(behavior, "concurrency.behavior", ctx, "string", CONCURRENCY_BEHAVIORS)
    return node.plain()


def parse_listeners(node: Node | None, ctx: Ctx) -> tuple[dict[str, Any], ...]:
    if not expect_list(node, "listeners", ctx, "listeners"):
        return ()
    assert node is not None
    out = []
    for i, item in enumerate(node.value):
        path = f"listeners[{i}]"
        if not expect_map(item, path, ctx, "a listener"):
            continue
        check_keys(item, path, ctx, ("conditions", "tasks", "description"), "listener")
        conditions = item.get("conditions")
        parsed = parse_conditions(conditions, join(path, "conditions"), ctx) if conditions else []
        tasks = parse_tasks(item.get("tasks"), join(path, "tasks"), ctx)
        if item.get("tasks") is None:
            ctx.error(item, join(path, "tasks"), "a listener needs `tasks`")
        out.append({"conditions": parsed, "tasks": tasks})
    return tuple(out)

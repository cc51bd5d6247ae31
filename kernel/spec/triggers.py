"""Flow ``triggers`` -> TriggerSpec, checked against registered trigger types; Schedule
crons and timezones are checked here so a bad schedule fails at deploy, not at 2 a.m.
"""

from __future__ import annotations

import zoneinfo
from typing import Any

from croniter import croniter

from kernel.conditions import UnknownCondition, condition_class
from kernel.plugin import TriggerType
from kernel.registry import UnknownType, missing_requirement, registry
from kernel.spec.common import (
    TASK_ID,
    Ctx,
    check_value,
    expect_list,
    expect_map,
    join,
    templated,
)
from kernel.spec.model import TriggerSpec
from kernel.spec.tasks import _properties
from kernel.spec.yaml_loader import Node

COMMON_TRIGGER_KEYS = (
    "id", "type", "description", "disabled", "conditions", "stopAfter", "logToFile",
    "minLogLevel", "workerGroup", "failOnTriggerError",
)  # fmt: skip
_CRON_NICKNAMES = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}


def parse_triggers(node: Node | None, ctx: Ctx) -> tuple[Any, ...]:
    if not expect_list(node, "triggers", ctx, "triggers"):
        return ()
    assert node is not None
    out: list[TriggerSpec] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(node.value):
        path = f"triggers[{i}]"
        if not expect_map(item, path, ctx, "a trigger"):
            continue
        id_node = item.get("id")
        trigger_id = None
        if id_node is None or id_node.value in (None, ""):
            ctx.error(item, join(path, "id"), "a trigger needs an `id`")
        else:
            trigger_id = str(id_node.value)
            if not TASK_ID.fullmatch(trigger_id):
                ctx.error(id_node, join(path, "id"), f"invalid trigger id {trigger_id!r}")
            if trigger_id in seen:
                ctx.error(
                    id_node,
                    join(path, "id"),
                    f"duplicate trigger id {trigger_id!r} (first on line {seen[trigger_id]})",
                )
            seen.setdefault(trigger_id, id_node.line)
        raw_type, cls = _trigger_type(item, path, ctx)
        disabled = item.get("disabled")
        if disabled is not None:
            check_value(disabled, join(path, "disabled"), ctx, "boolean")
        conditions = item.get("conditions")
        if conditions is not None:
            parse_conditions(conditions, join(path, "conditions"), ctx)
        if cls is not None:
            fields = {k: v for k, v in item.value.items() if k not in COMMON_TRIGGER_KEYS}
            _properties(item, fields, cls, path, ctx)
        if cls is not None and cls.trigger_kind == "schedule" and cls.prop("cron") is not None:
            _check_schedule(item, path, ctx, require_cron=False)
        if trigger_id is None or raw_type is None:
            continue
        properties = {
            k: v.plain() for k, v in item.value.items() if k not in ("id", "type", "disabled")
        }
        out.append(
            TriggerSpec(
                id=trigger_id,
                type=cls.type if cls is not None else raw_type,
                raw_type=raw_type,
                properties=properties,
                disabled=bool(disabled.value) if disabled is not None else False,
                path=path,
                line=item.line,
                col=item.col,
            )
        )
    return tuple(out)


def _trigger_type(item: Node, path: str, ctx: Ctx) -> tuple[str | None, type[TriggerType] | None]:
    type_node = item.get("type")
    if type_node is None or not isinstance(type_node.value, str) or not type_node.value:
        ctx.error(type_node or item, join(path, "type"), "a trigger needs a `type`")
        return None, None
    raw = type_node.value
    try:
        cls = registry.get(raw)
    except UnknownType as exc:
        ctx.unknown_types.add(raw)
        ctx.error(
            type_node, join(path, "type"), str(exc).replace("unknown type", "unknown trigger type")
        )
        return raw, None
    if not issubclass(cls, TriggerType):
        ctx.error(type_node, join(path, "type"), f"{raw!r} is a task type, not a trigger type")
        return raw, None
    missing = missing_requirement(cls)
    if missing:
        ctx.error(type_node, join(path, "type"), missing)
    return raw, cls


def _check_schedule(item: Node, path: str, ctx: Ctx, *, require_cron: bool) -> None:
    cron = item.get("cron")
    seconds = item.get("withSeconds")
    with_seconds = seconds is not None and seconds.value is True
    if cron is None or not isinstance(cron.value, str) or not cron.value.strip():
        if cron is None and not require_cron:
            return  # the Schedule plugin's own `required` reports it
        ctx.error(cron or item, join(path, "cron"), "a Schedule trigger needs a `cron` expression")
    else:
        expr = cron.value.strip()
        fields = expr.split()
        wanted = 6 if with_seconds else 5
        if expr.lower() in _CRON_NICKNAMES:
            pass
        elif len(fields) != wanted:
            extra = "" if with_seconds else " (6 with `withSeconds: true`)"
            ctx.error(
                cron, join(path, "cron"), f"invalid cron {expr!r}: expected {wanted} fields{extra}"
            )
        elif not croniter.is_valid(" ".join(fields[1:] + fields[:1]) if with_seconds else expr):
            ctx.error(cron, join(path, "cron"), f"invalid cron expression {expr!r}")
    tz = item.get("timezone")
    if tz is not None and isinstance(tz.value, str) and not templated(tz.value):
        try:
            zoneinfo.ZoneInfo(tz.value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            ctx.error(tz, join(path, "timezone"), f"unknown timezone {tz.value!r}")


#: Keys every condition may carry besides its own properties.
CONDITION_KEYS = ("type", "description")


def parse_conditions(node: Node, path: str, ctx: Ctx) -> list[Any]:
    """Trigger / listener conditions: a list of mappings with a known ``type`` whose
    properties are checked like a task's (``Not`` and ``Or`` recursively); kept as written.
    An unknown condition would otherwise make its trigger skip every time, silently."""
    if not expect_list(node, path, ctx, "conditions"):
        return []
    for i, item in enumerate(node.value):
        here = f"{path}[{i}]"
        if not expect_map(item, here, ctx, "a condition"):
            continue
        type_node = item.get("type")
        if type_node is None or not isinstance(type_node.value, str) or not type_node.value:
            ctx.error(type_node or item, join(here, "type"), "a condition needs a `type`")
            continue
        try:
            cls = condition_class(type_node.value)
        except UnknownCondition as exc:
            ctx.error(type_node, join(here, "type"), str(exc))
            continue
        fields = {k: v for k, v in item.value.items() if k not in CONDITION_KEYS}
        _properties(item, fields, cls, here, ctx)
        nested = item.get("conditions")
        if nested is not None and cls.prop("conditions") is not None:
            parse_conditions(nested, join(here, "conditions"), ctx)
    return node.plain()

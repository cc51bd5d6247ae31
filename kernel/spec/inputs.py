"""Flow ``inputs`` -> InputSpec: ids, types and the checks that need no execution.

Whether a default matches its type is ``kernel.inputs``' business (it parses values for
runs too); until that module exists, at least ``validator`` regexes must compile.
"""

from __future__ import annotations

import re
from typing import Any

from kernel.spec.common import (
    INPUT_ID,
    Ctx,
    did_you_mean,
    expect_list,
    expect_map,
    join,
)
from kernel.spec.model import InputSpec
from kernel.spec.yaml_loader import Node

INPUT_TYPES = (
    "STRING", "INT", "FLOAT", "BOOLEAN", "BOOL", "DATETIME", "DATE", "TIME", "DURATION",
    "JSON", "URI", "FILE", "SELECT", "ENUM", "MULTISELECT", "ARRAY", "SECRET", "EMAIL", "YAML",
)  # fmt: skip
#: Kestra's older type names, still accepted: the name to use instead.
DEPRECATED_INPUT_TYPES = {"ENUM": "SELECT"}


def parse_inputs(node: Node | None, ctx: Ctx) -> tuple[Any, ...]:
    if not expect_list(node, "inputs", ctx, "inputs"):
        return ()
    assert node is not None
    specs: list[InputSpec] = []
    checkable: list[tuple[int, InputSpec]] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(node.value):
        path = f"inputs[{i}]"
        if not expect_map(item, path, ctx, "an input"):
            continue
        id_node = item.get("id")
        if id_node is None and item.get("name") is not None:
            id_node = item.get("name")
            ctx.warn(item.key_pos("name"), join(path, "name"), "`name` is deprecated; use `id`")
        if id_node is None or id_node.value in (None, ""):
            ctx.error(item, join(path, "id"), "an input needs an `id`")
            continue
        input_id = str(id_node.value)
        good = True
        if not INPUT_ID.fullmatch(input_id):
            ctx.error(id_node, join(path, "id"), f"invalid input id {input_id!r}")
            good = False
        if input_id in seen:
            ctx.error(
                id_node,
                join(path, "id"),
                f"duplicate input id {input_id!r} (first on line {seen[input_id]})",
            )
            good = False
        seen.setdefault(input_id, id_node.line)
        type_node = item.get("type")
        input_type = "STRING"
        if type_node is None:
            ctx.error(item, join(path, "type"), "an input needs a `type`")
            good = False
        elif type_node.value not in INPUT_TYPES:
            hint = did_you_mean(str(type_node.value), INPUT_TYPES)
            ctx.error(
                type_node, join(path, "type"), f"unknown input type {type_node.value!r}{hint}"
            )
            good = False
        else:
            input_type = type_node.value
            if input_type in DEPRECATED_INPUT_TYPES:
                ctx.warn(
                    type_node,
                    join(path, "type"),
                    f"input type `{input_type}` is deprecated; "
                    f"use `{DEPRECATED_INPUT_TYPES[input_type]}`",
                )
        options = {k: v.plain() for k, v in item.value.items() if k not in ("id", "name", "type")}
        spec = InputSpec(input_id, input_type, options, path=path, line=item.line, col=item.col)
        specs.append(spec)
        if good:
            checkable.append((i, spec))
    _check_input_values(node, checkable, ctx)
    return tuple(specs)


def _check_input_values(node: Node, checkable: list[tuple[int, Any]], ctx: Ctx) -> None:
    """Defaults and validators: kernel.inputs knows every type; until it exists, at
    least check that ``validator`` regexes compile."""
    try:
        # Looked up at each check, not imported once: tests swap the inputs module.
        from kernel.inputs import validate_input_specs
    except ImportError:
        validate_input_specs = None
    if validate_input_specs is None:
        for i, spec in checkable:
            validator = spec.options.get("validator")
            if isinstance(validator, str):
                try:
                    re.compile(validator)
                except re.error as exc:
                    where = node.value[i].get("validator") or node.value[i]
                    ctx.error(where, f"{spec.path}.validator", f"invalid validator regex: {exc}")
        return
    indexes = [i for i, _ in checkable]
    for suffix, message in validate_input_specs([spec for _, spec in checkable]):
        path, where = _input_location(node, indexes, str(suffix))
        ctx.error(where, path, message)


_SUFFIX = re.compile(r"(?:inputs)?\[?(\d+)\]?(?:\.(.+))?")


def _input_location(node: Node, indexes: list[int], suffix: str) -> tuple[str, Node]:
    """Map a problem reported on the n-th checked input back to its document position."""
    match = _SUFFIX.fullmatch(suffix)
    if not match or int(match.group(1)) >= len(indexes):
        return join("inputs", suffix), node
    item = node.value[indexes[int(match.group(1))]]
    path = f"inputs[{indexes[int(match.group(1))]}]"
    rest = match.group(2)
    if not rest:
        return path, item
    field_node = item.get(rest.split(".", 1)[0].split("[", 1)[0])
    return join(path, rest), field_node or item

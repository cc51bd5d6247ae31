"""Shared pieces of the flow spec parser: the problem collector and value checks.

The parser never stops at the first problem: every check reports into a :class:`Ctx` and
carries on, so a user fixes a document in one round trip. Pure: no Django.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kernel.spec.model import SpecProblem
from kernel.spec.yaml_loader import Node

if TYPE_CHECKING:
    from kernel.spec.model import SpecProblem

#: Kestra's flow id, namespace and task/trigger id patterns (AbstractFlow, TaskInterface).
FLOW_ID = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9._-]*")
FLOW_ID_MAX = 100
NAMESPACE = re.compile(r"[a-z0-9][a-z0-9._-]*")
NAMESPACE_MAX = 150
TASK_ID = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_-]*")
INPUT_ID = re.compile(r"[a-zA-Z0-9][.a-zA-Z0-9_-]*")

#: ISO-8601 duration as java.time.Duration / Period read it (PT1M, P1D, PT0.25S, P1DT2H).
_NUM = r"\d+(?:[.,]\d+)?"
DURATION = re.compile(
    rf"[-+]?P(?=\d|T\d)(?:{_NUM}Y)?(?:{_NUM}M)?(?:{_NUM}W)?(?:{_NUM}D)?"
    rf"(?:T(?=\d)(?:{_NUM}H)?(?:{_NUM}M)?(?:{_NUM}S)?)?",
    re.IGNORECASE,
)
LOG_LEVELS = ("ERROR", "WARN", "INFO", "DEBUG", "TRACE")

Pos = Node | tuple[int, int]


@dataclass
class Ctx:
    """Everything one parse collects: problems, warnings, task ids seen, defaults to apply."""

    filename: str
    problems: list[SpecProblem] = field(default_factory=list)
    warnings: list[SpecProblem] = field(default_factory=list)
    #: lower-cased task id -> (id as written, line) of its first use.
    task_ids: dict[str, tuple[str, int]] = field(default_factory=dict)
    #: (type prefix, values node, forced) from pluginDefaults / taskDefaults, in order.
    defaults: list[tuple[str, Node, bool]] = field(default_factory=list)
    #: Type names the registry does not know (the corpus test reports them).
    unknown_types: set[str] = field(default_factory=set)

    def _problem(self, pos: Pos, path: str, message: str) -> SpecProblem:
        line, col = (pos.line, pos.col) if isinstance(pos, Node) else pos
        return SpecProblem(self.filename, line, col, path, message)

    def error(self, pos: Pos, path: str, message: str) -> None:
        self.problems.append(self._problem(pos, path, message))

    def warn(self, pos: Pos, path: str, message: str) -> None:
        self.warnings.append(self._problem(pos, path, message))


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def templated(value: Any) -> bool:
    """A string that renders later (so its final kind is unknown now)."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def did_you_mean(name: str, options: Iterable[str]) -> str:
    """'; did you mean 'x'?' or '' — for unknown keys, types and input types."""
    options = list(options)
    lowered = {o.lower(): o for o in options}
    if name.lower() in lowered:
        return f"; did you mean {lowered[name.lower()]!r}?"
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return f"; did you mean {lowered[close[0]]!r}?" if close else ""


def kind_problem(value: Any, kind: str, items: str | None = None) -> str | None:
    """Why ``value`` is not of property kind ``kind``, or None when it is (or renders later)."""
    if value is None or kind == "any" or templated(value):
        return None
    ok: bool
    if kind == "string":
        ok = isinstance(value, str | int | float | bool)
    elif kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif kind == "boolean":
        ok = isinstance(value, bool)
    elif kind == "duration":
        if isinstance(value, str) and DURATION.fullmatch(value):
            return None
        return f"must be an ISO-8601 duration like PT1M or P1D, not {value!r}"
    elif kind == "list":
        ok = isinstance(value, list)
        if ok and items:
            for i, item in enumerate(value):
                why = kind_problem(item, items)
                if why:
                    return f"item {i} {why}"
    elif kind == "map":
        ok = isinstance(value, dict)
    else:
        return None
    if ok:
        return None
    return f"must be {_ARTICLE[kind]}, not {_describe(value)}"


_ARTICLE = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "list": "a list",
    "map": "a mapping",
}


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def check_value(node: Node, path: str, ctx: Ctx, kind: str, choices: tuple[Any, ...] = ()) -> bool:
    """Report a value of the wrong kind (or outside ``choices``); True when it is fine."""
    why = kind_problem(node.value, kind)
    value = node.value
    if (
        why is None
        and choices
        and value is not None
        and not templated(value)
        and value not in choices
    ):
        allowed = ", ".join(str(c) for c in choices)
        why = f"must be one of {allowed}, not {node.value!r}"
    if why:
        ctx.error(node, path, why)
        return False
    return True


def check_keys(node: Node, path: str, ctx: Ctx, allowed: Iterable[str], what: str) -> None:
    """Refuse keys of a mapping that are not ``allowed``, with a did-you-mean."""
    allowed = tuple(allowed)
    for key in node.value:
        if key not in allowed:
            hint = did_you_mean(key, allowed)
            ctx.error(node.key_pos(key), join(path, key), f"unknown {what} key {key!r}{hint}")


def expect_map(node: Node | None, path: str, ctx: Ctx, what: str) -> bool:
    if node is None or node.is_map:
        return node is not None
    ctx.error(node, path, f"{what} must be a mapping, not {_describe(node.value)}")
    return False


def expect_list(node: Node | None, path: str, ctx: Ctx, what: str) -> bool:
    if node is None or node.value is None:
        return False
    if node.is_seq:
        return True
    ctx.error(node, path, f"{what} must be a list, not {_describe(node.value)}")
    return False

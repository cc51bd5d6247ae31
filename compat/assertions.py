"""Evaluate the Kestra corpus's assertions against an execution document.

Pure: the document is plain data in Kestra's shape (see ``build_document`` in
``compat.document``), so this module is tested without a database. The path grammar
and the operators are the ones the corpus header (``expectations.yaml``) defines.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

_MISSING = object()
_TOKEN = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]|\[(\w+)=(\w+)\]")
_LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]


class Unsupported(Exception):
    """An assertion this runner cannot evaluate (reported, never counted as a pass)."""


def _state_current(value: Any) -> Any:
    if isinstance(value, Mapping) and "current" in value and "histories" in value:
        return value["current"]
    return value


def _ancestor_values(doc: Mapping[str, Any], run: Mapping[str, Any]) -> list[Any]:
    """Loop values from the outermost loop to ``run``. A document that says which runs a
    loop created (``iteration``) counts only those; children of a flowable inside a loop
    carry its value too, and would otherwise count it twice."""
    by_id = {r["id"]: r for r in doc["taskRunList"]}
    marked = any("iteration" in r for r in doc["taskRunList"])
    values, cur = [], run
    while cur is not None:
        if cur.get("value") is not None and (not marked or cur.get("iteration") is not None):
            values.append(cur["value"])
        cur = by_id.get(cur.get("parentTaskRunId"))
    return list(reversed(values))


def _select_runs(doc: Mapping[str, Any], head: str) -> tuple[Any, str]:
    """Resolve the head of a path (``taskrun(a, [x])``, ``taskruns(a)``); return value and rest."""
    m = re.match(r"(taskruns?)\((.*?)(?:,\s*\[(.*?)\])?\)", head)
    if not m:
        raise Unsupported(f"path head {head!r}")
    kind, task_id, values = m.group(1), m.group(2).strip().strip("'\""), m.group(3)
    runs = [r for r in doc["taskRunList"] if r["taskId"] == task_id]
    rest = head[m.end() :]
    if kind == "taskruns":
        return runs, rest
    if values is not None:
        wanted = [v.strip().strip("'\"") for v in values.split(",") if v.strip()]
        runs = [r for r in runs if [str(v) for v in _ancestor_values(doc, r)] == wanted]
    return (runs[0] if runs else _MISSING), rest


def resolve(doc: Mapping[str, Any], path: str) -> Any:
    """The value at ``path`` in the execution document, or ``_MISSING``."""
    path = path.strip()
    if path.startswith("taskrun"):
        cur, rest = _select_runs(doc, path)
    elif path.startswith("execution."):
        cur, rest = doc, path[len("execution") :]
    elif path.startswith("taskRunList"):
        cur, rest = doc, path
    else:
        raise Unsupported(f"path {path!r}")
    pos = 0
    while pos < len(rest):
        m = _TOKEN.match(rest, pos)
        if not m:
            raise Unsupported(f"path {path!r} near {rest[pos:]!r}")
        pos = m.end()
        if cur is _MISSING or cur is None:
            return _MISSING
        name, index, fkey, fval = m.groups()
        if name is not None:
            if isinstance(cur, Mapping):
                cur = cur.get(name, _MISSING)
            elif name == "size" and isinstance(cur, list):
                cur = len(cur)
            else:
                return _MISSING
        elif index is not None:
            i = int(index)
            cur = cur[i] if isinstance(cur, list) and i < len(cur) else _MISSING
        else:
            if not isinstance(cur, list):
                return _MISSING
            cur = [x for x in cur if str(_state_current(x.get(fkey))) == fval]
    return cur


def _norm(value: Any) -> Any:
    """Compare like Kestra's Java tests: state objects by their current state, numbers loosely."""
    value = _state_current(value)
    if isinstance(value, list):
        return [_norm(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _norm(v) for k, v in value.items()}
    return value


def _eq(actual: Any, expected: Any) -> bool:
    actual = _norm(actual)
    if actual == expected:
        return True
    if isinstance(actual, bool) or isinstance(expected, bool):
        return str(actual).lower() == str(expected).lower()
    if isinstance(actual, int | float) and isinstance(expected, int | float):
        return float(actual) == float(expected)
    if isinstance(expected, str) and not isinstance(actual, str) and actual is not None:
        rendered = (
            json.dumps(actual, separators=(",", ":"))
            if isinstance(actual, list | dict)
            else str(actual)
        )
        return rendered == expected
    if isinstance(actual, str) and isinstance(expected, int | float):
        return actual == str(expected)
    return False


def check(actual: Any, op: str, expected: Any) -> bool:
    """Apply one operator of the corpus grammar."""
    present = actual is not _MISSING
    if op == "absent":
        return not present or actual in (None, [], {})
    if op == "is_null":
        return not present or actual is None
    if op == "not_null":
        return present and actual is not None
    if not present:
        return False
    value = _norm(actual)
    if op == "eq":
        return _eq(actual, expected)
    if op == "not_eq":
        return not _eq(actual, expected)
    if op == "size":
        return hasattr(value, "__len__") and len(value) == int(expected)
    if op == "empty":
        return hasattr(value, "__len__") and len(value) == 0
    if op == "gte":
        return float(len(value) if isinstance(value, list | dict) else value) >= float(expected)
    if op == "contains":
        if isinstance(value, list):
            return any(_eq(v, expected) for v in value)
        return str(expected) in (value if isinstance(value, str) else json.dumps(value))
    if op == "starts_with":
        return str(value).startswith(str(expected))
    if op == "ends_with":
        return str(value).endswith(str(expected))
    if op == "matches":
        return re.fullmatch(str(expected), str(value), flags=re.DOTALL) is not None or (
            re.match(str(expected), str(value)) is not None and str(expected).startswith("^")
        )
    if op == "one_of":
        return any(_eq(actual, e) for e in expected)
    if op == "contains_in_any_order":
        return Counter(map(_key, value)) == Counter(map(_key, _norm(expected)))
    if op == "has_items":
        have = Counter(map(_key, value))
        need = Counter(map(_key, _norm(expected)))
        return all(have[k] >= n for k, n in need.items())
    if op == "is_datetime_near_now":
        try:
            when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return False
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return abs((datetime.now(UTC) - when).total_seconds()) <= float(expected)
    raise Unsupported(f"operator {op!r}")


def _key(v: Any) -> str:
    return json.dumps(_norm(v), sort_keys=True, default=str)


def _log_matches(entry: Mapping[str, Any], log: Mapping[str, Any], runs: set[str] | None) -> bool:
    if runs is not None and entry.get("taskRunId") not in runs:
        return False
    if log.get("level") and entry.get("level") != log["level"]:
        return False
    if log.get("min_level"):
        level = entry.get("level", "INFO")
        if _LEVELS.index(level if level in _LEVELS else "INFO") < _LEVELS.index(log["min_level"]):
            return False
    return True


def check_logs(
    doc: Mapping[str, Any], logs: list[Mapping[str, Any]], spec: Mapping[str, Any]
) -> bool:
    """One ``logs`` expectation: a selector (task run, level) and an operator over messages."""
    if "error_eq" in spec:
        raise Unsupported("error_eq (an exception asserted by a Java test)")
    runs: set[str] | None = None
    if spec.get("taskrun"):
        target = resolve(doc, spec["taskrun"])
        runs = {target["id"]} if isinstance(target, Mapping) else set()
    selected = [e for e in logs if _log_matches(e, spec, runs)]
    messages = [str(e.get("message", "")) for e in selected]
    op, value = spec["op"], spec.get("value")
    if op == "absent":
        return not messages
    if op == "count":
        return len(messages) == int(value)
    if "count" in spec:
        return sum(1 for m in messages if check(m, op, value)) == int(spec["count"])
    return any(check(m, op, value) for m in messages)

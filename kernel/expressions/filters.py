"""Filters and tests that Kestra's Pebble offers, with Kestra's semantics.

Where a Jinja2 built-in of the same name exists (`default`, `replace`, `join`, `length`,
`indent`, `slice`...), the version here accepts both the Pebble and the Jinja call forms.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import yaml
from jinja2 import Undefined

from kernel.expressions.dates import DATE_FILTERS
from kernel.expressions.jq import run_jq
from kernel.expressions.limits import regex_sub, replace_text
from kernel.expressions.state import (
    MAX_OUTPUT,
    ExpressionError,
    LimitExceeded,
    kstr,
    require_defined,
    to_json,
)
from kernel.expressions.text import TEXT_FILTERS


def _text(value: Any) -> str:
    return kstr(require_defined(value))


def _is_empty(value: Any) -> bool:
    if isinstance(value, Undefined) or value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    if isinstance(value, Mapping | Sequence | set | frozenset):
        return len(value) == 0
    return False


def default(value: Any, default_value: Any = "", boolean: bool = False) -> Any:
    """Pebble: the default replaces undefined, null and empty values."""
    if _is_empty(value) or (boolean and not value):
        return default_value
    return value


def json_encode(value: Any) -> str:
    return to_json(require_defined(value))


def from_json(value: Any) -> Any:
    require_defined(value)
    if value is None:
        return None
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError as exc:
        raise ExpressionError(f"Invalid JSON '{value[:100]}': {exc}") from None


def jq_filter(value: Any, expression: str) -> list[Any]:
    """Kestra's `jq`: always a list of results; strings are parsed as JSON first."""
    require_defined(value)
    if value is None:
        return None  # type: ignore[return-value]
    try:
        data = to_json(json.loads(value)) if isinstance(value, str) else to_json(value)
        return run_jq(_text(expression), data)
    except LimitExceeded:
        raise
    except Exception as exc:  # noqa: BLE001 - jq and JSON raise several types
        raise ExpressionError(f"Unable to apply jq '{expression}' to '{kstr(value)[:100]}': {exc}")


def yaml_filter(value: Any) -> str:
    text = yaml.safe_dump(
        json.loads(to_json(require_defined(value))),
        default_flow_style=False,
        sort_keys=False,
        allow_unicode=True,
    )
    return text


def replace(
    value: Any, old: Any, new: Any = None, count: int | None = None, regexp: bool = False
) -> Any:  # noqa: E501
    """Pebble form `replace({'a': 'b'}, regexp=false)` (also over maps/lists); Jinja form
    `replace('a', 'b')`."""
    require_defined(value)
    if value is None:
        return None
    if isinstance(old, Mapping):
        regexp = bool(new) if new is not None else regexp
        return _replace_deep(value, old, regexp)
    text = _text(value)
    return replace_text(text, _text(old), _text(new), -1 if count is None else int(count))


def _replace_deep(value: Any, pairs: Mapping[Any, Any], regexp: bool) -> Any:
    if isinstance(value, Mapping):
        return {k: _replace_deep(v, pairs, regexp) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_replace_deep(v, pairs, regexp) for v in value]
    text = kstr(value)
    for old, new in pairs.items():
        if regexp:  # Java's `$1` is Python's `\1`; bounded in time and size (issue 21)
            text = regex_sub(kstr(old), kstr(new).replace("$", "\\"), text)
        else:
            text = replace_text(text, kstr(old), kstr(new))
    return text


def join(value: Any, separator: str = "", attribute: Any = None) -> str:
    require_defined(value)
    if value is None:
        return ""
    items = list(value)
    if attribute is not None:
        items = [item[attribute] for item in items]
    return _text(separator).join(kstr(item) for item in items)


def length(value: Any) -> int:
    require_defined(value)
    if value is None:
        return 0
    if isinstance(value, bool | int | float):
        return len(kstr(value))
    return len(value)


def keys(value: Any) -> list[Any]:
    require_defined(value)
    if isinstance(value, Mapping):
        return list(value.keys())
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(range(len(value)))
    raise ExpressionError(f"keys expects a map, got {type(value).__name__}")


def values(value: Any) -> list[Any]:
    require_defined(value)
    if isinstance(value, Mapping):
        return list(value.values())
    raise ExpressionError(f"values expects a map, got {type(value).__name__}")


def first(value: Any) -> Any:
    require_defined(value)
    if isinstance(value, Mapping):
        value = list(value.values())
    return value[0] if value else None


def last(value: Any) -> Any:
    require_defined(value)
    if isinstance(value, Mapping):
        value = list(value.values())
    return value[-1] if value else None


def number(value: Any, type: str | None = None) -> int | float:  # noqa: A002 - Kestra's name
    require_defined(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    text = _text(value).strip()
    kind = (type or "").upper()
    try:
        if kind in ("INT", "LONG", "INTEGER"):
            return int(text, 0) if text.lower().startswith(("0x", "0b", "0o")) else int(text)
        if kind in ("FLOAT", "DOUBLE", "BIGDECIMAL"):
            return float(text)
        if re.fullmatch(r"[+-]?\d+", text):
            return int(text)
        return float(text)
    except ValueError:
        raise ExpressionError(f"Unable to parse '{text}' as a number") from None


def flatten(value: Any) -> list[Any]:
    out: list[Any] = []
    for item in require_defined(value):
        if isinstance(item, list | tuple):
            out.extend(item)
        else:
            out.append(item)
    return out


def chunk(value: Any, size: int) -> list[list[Any]]:
    size = int(size)
    if size <= 0:
        raise ExpressionError("chunk size must be positive")
    items = list(require_defined(value))
    return [items[i : i + size] for i in range(0, len(items), size)]


def split(value: Any, delimiter: str, limit: int | None = None) -> list[str]:
    text = _text(value)
    if limit is None or int(limit) <= 0:
        return text.split(_text(delimiter))
    return text.split(_text(delimiter), int(limit) - 1)


def slice_filter(value: Any, fromIndex: int = 0, toIndex: int | None = None) -> Any:  # noqa: N803
    require_defined(value)
    return value[int(fromIndex) : None if toIndex is None else int(toIndex)]


def merge(value: Any, items: Any) -> Any:
    require_defined(value)
    if isinstance(value, Mapping):
        return {**value, **items}
    return list(value) + list(items)


def distinct(value: Any) -> list[Any]:
    out: list[Any] = []
    for item in require_defined(value):
        if item not in out:
            out.append(item)
    return out


def rsort(value: Iterable[Any]) -> list[Any]:
    return sorted(require_defined(value), reverse=True)


def string(value: Any) -> str:
    return _text(value)


def number_format(value: Any, pattern: str = "#,##0.###") -> str:
    """Pebble's ``numberformat`` with Java DecimalFormat patterns (``#.##``, ``#,##0.00``,
    ``000``): grouping when the integer part has a comma, as many decimals as the pattern
    allows (``0`` forces one), rounding half to even as Java does."""
    from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

    require_defined(value)
    text = _text(pattern)
    whole, _, fraction = text.partition(".")
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ExpressionError(f"numberformat expects a number, not '{kstr(value)}'") from None
    most, least = len(fraction.replace(",", "")), fraction.count("0")
    rounded = number.quantize(Decimal(1).scaleb(-most), rounding=ROUND_HALF_EVEN)
    sign = "-" if rounded < 0 else ""
    digits = f"{abs(rounded):f}"
    head, _, tail = digits.partition(".")
    tail = tail.rstrip("0").ljust(least, "0")
    head = head.lstrip("0").rjust(max(whole.count("0"), 0), "0")
    if "," in whole and head:
        size = len(whole) - whole.rindex(",") - 1
        groups = [head[max(i - size, 0) : i] for i in range(len(head), 0, -size)]
        head = ",".join(reversed(groups))
    out = head + (f".{tail}" if tail else "")
    return sign + (out or "0")


_JAVA_CLASSES = (
    (bool, "java.lang.Boolean"),
    (int, "java.lang.Long"),
    (float, "java.lang.Double"),
    (str, "java.lang.String"),
    (Mapping, "java.util.LinkedHashMap"),
    (list, "java.util.ArrayList"),
    (tuple, "java.util.ArrayList"),
)


def class_name(value: Any) -> str | None:
    """Kestra's ``className``: the Java class a value would have there."""
    require_defined(value)
    if value is None:
        return None
    return next((name for kind, name in _JAVA_CLASSES if isinstance(value, kind)),
                type(value).__name__)  # fmt: skip


# ---------------------------------------------------------------------------------- tests


def test_json(value: Any) -> bool:
    if isinstance(value, Mapping | list):
        return True
    if not isinstance(value, str):
        return False
    try:
        json.loads(value)
    except ValueError:
        return False
    return True


def test_null(value: Any) -> bool:
    return require_defined(value) is None


def test_empty(value: Any) -> bool:
    require_defined(value)
    return _is_empty(value)


def test_present(value: Any) -> bool:
    return not isinstance(value, Undefined) and value is not None


def test_defined(value: Any) -> bool:
    return not isinstance(value, Undefined)


def test_map(value: Any) -> bool:
    return isinstance(value, Mapping)


FILTERS = {
    **DATE_FILTERS,
    **TEXT_FILTERS,
    "default": default,
    "d": default,
    "json": json_encode,
    "toJson": json_encode,
    "jsonEncode": json_encode,
    "fromJson": from_json,
    "jsonDecode": from_json,
    "jq": jq_filter,
    "yaml": yaml_filter,
    "replace": replace,
    "join": join,
    "length": length,
    "count": length,
    "keys": keys,
    "values": values,
    "first": first,
    "last": last,
    "number": number,
    "flatten": flatten,
    "chunk": chunk,
    "split": split,
    "slice": slice_filter,
    "merge": merge,
    "distinct": distinct,
    "uniq": distinct,
    "rsort": rsort,
    "string": string,
    "numberformat": number_format,
    "numberFormat": number_format,
    "className": class_name,
}

TESTS = {
    "json": test_json,
    "null": test_null,
    "empty": test_empty,
    "map": test_map,
    "kx_present": test_present,
    "kx_defined": test_defined,
}

# Jinja built-ins that can allocate without bound from a small template.
RISKY_BUILTINS = ("center", "format", "wordwrap", "truncate", "batch", "indent")

__all__ = ["FILTERS", "MAX_OUTPUT", "RISKY_BUILTINS", "TESTS"]

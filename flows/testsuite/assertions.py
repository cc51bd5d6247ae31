"""Assertion operators (Kestra's names) over rendered values: pure, so cheap to test.

Values are compared as rendered: a lone ``{{ expr }}`` keeps its type (200 stays a number),
and a number compared with a string holding a number is compared as numbers, because an
output written by a script is often the text ``"200"``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def _equal(actual: Any, expected: Any) -> bool:
    if actual == expected:
        return True
    a, e = _num(actual), _num(expected)
    if a is not None and e is not None:
        return a == e
    if isinstance(actual, str) and not isinstance(expected, str):
        return actual == _text(expected)
    return False


def _order(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(actual: Any, expected: Any) -> bool:
        a, e = _num(actual), _num(expected)
        if a is not None and e is not None:
            return op(a, e)
        return op(_text(actual), _text(expected))

    return compare


def _contains(actual: Any, expected: Any) -> bool:
    if isinstance(actual, list | tuple | set | dict):
        return expected in actual or any(_equal(item, expected) for item in actual)
    return _text(expected) in _text(actual)


def _within(actual: Any, expected: Any) -> bool:
    options = expected if isinstance(expected, list) else [expected]
    return any(_equal(actual, option) for option in options)


#: Operator name -> test(actual, expected).
OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "equalTo": _equal,
    "notEqualTo": lambda a, e: not _equal(a, e),
    "contains": _contains,
    "startsWith": lambda a, e: _text(a).startswith(_text(e)),
    "endsWith": lambda a, e: _text(a).endswith(_text(e)),
    "greaterThan": _order(lambda a, e: a > e),
    "greaterThanOrEqualTo": _order(lambda a, e: a >= e),
    "lessThan": _order(lambda a, e: a < e),
    "lessThanOrEqualTo": _order(lambda a, e: a <= e),
    "in": _within,
    "notIn": lambda a, e: not _within(a, e),
    "isNull": lambda a, e: (a is None or a == "") == bool(e),
    "isNotNull": lambda a, e: (a is not None and a != "") == bool(e),
}


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str, ensure_ascii=False)


def show(value: Any) -> str:
    """How a value is printed in a failure: JSON, so ``"200"`` and ``200`` differ."""
    return json.dumps(value, default=str, ensure_ascii=False)


def check(operator: str, actual: Any, expected: Any) -> bool:
    return OPERATORS[operator](actual, expected)

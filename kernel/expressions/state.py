"""Shared pieces of the expression engine: the error type, limits, per-render state and
Kestra-style stringification.

Kept apart from expressions.py so filters and functions can use them without import cycles.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from jinja2 import Undefined

MAX_RANGE = 10_000  # items a range() may produce
MAX_SEQUENCE = 100_000  # items a list/tuple repetition may produce
MAX_OUTPUT = 10 * 1024 * 1024  # characters of rendered output (and of any one string built)
DEFAULT_TIMEOUT = 5.0  # seconds of rendering per top-level call
MAX_RENDER_DEPTH = 10  # nested render() calls
TIME_LIMIT_MESSAGE = "rendering took too long (time limit exceeded)"


class ExpressionError(Exception):
    """An expression could not be parsed or rendered; the message names both."""

    def __init__(self, message: str, template: str | None = None) -> None:
        super().__init__(message)
        self.template = template


class LimitExceeded(ExpressionError):
    """A safety limit (time, size, range) was hit while rendering."""


@dataclass
class RenderState:
    """What one top-level render shares with nested renders, functions and limit checks."""

    deadline: float
    io: Any = None  # the context's `_trellis` object
    render_string: Callable[[str, Mapping[str, Any]], str] | None = None
    depth: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    #: What a render stopped at ``deadline`` says: the expression's own budget, or the
    #: enclosing budget (a task's ``timeout``, the executor's step) that ended first.
    timeout_message: str = TIME_LIMIT_MESSAGE

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise LimitExceeded(self.timeout_message)


_STATE: contextvars.ContextVar[RenderState | None] = contextvars.ContextVar(
    "trellis_render_state", default=None
)


def current_state() -> RenderState | None:
    return _STATE.get()


def set_state(state: RenderState | None) -> contextvars.Token[RenderState | None]:
    return _STATE.set(state)


def reset_state(token: contextvars.Token[RenderState | None]) -> None:
    _STATE.reset(token)


def tick() -> None:
    """Cheap cooperative check of the render deadline."""
    state = _STATE.get()
    if state is not None and time.monotonic() > state.deadline:
        raise LimitExceeded(state.timeout_message)


def require_defined(value: Any) -> Any:
    """Raise the undefined error for Undefined values (filters must not swallow them)."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    return value


def java_datetime(value: dt.datetime) -> str:
    """ISO-8601 like Java's Instant/OffsetDateTime `toString` (UTC as `Z`)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    text = value.isoformat()
    if value.utcoffset() == dt.timedelta(0):
        text = text[: -len("+00:00")] + "Z"
    return text


def _json_default(value: Any) -> Any:
    if isinstance(value, Undefined):
        require_defined(value)
    if isinstance(value, dt.datetime):
        return java_datetime(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return _duration(value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set | frozenset | Iterator):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def _duration(value: dt.timedelta) -> str:
    seconds = value.total_seconds()
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    frac = seconds - int(seconds)
    out = "PT"
    if hours:
        out += f"{hours}H"
    if minutes:
        out += f"{minutes}M"
    if secs or frac or out == "PT":
        out += f"{secs + frac:g}S"
    return out


def to_json(value: Any) -> str:
    """Compact JSON as Kestra's Jackson writes it (`{"a":1}`), keeping non-ASCII text."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def kstr(value: Any) -> str:
    """Render a Python value the way Kestra prints Java values into a template."""
    if isinstance(value, str):
        return value
    if isinstance(value, Undefined):
        require_defined(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Iterator):  # Jinja's reverse/map/select return iterators
        value = list(value)
    if isinstance(value, Mapping | list | tuple | set | frozenset):
        return to_json(value)
    if isinstance(value, dt.datetime):
        return java_datetime(value)
    if isinstance(value, dt.timedelta):
        return _duration(value)
    if callable(value):
        raise ExpressionError(f"cannot print a function ({getattr(value, '__name__', value)})")
    return str(value)

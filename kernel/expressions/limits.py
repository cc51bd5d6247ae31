"""Bounds on what one expression may cost, checked *before* the work is done (issue 21).

The sandbox's time budget is cooperative: ``tick()`` runs between Python-level steps. A single
C-level call cannot be interrupted that way, so each kind of such call is bounded here:

* allocation: a call whose result size follows from its arguments (``str.replace``, ``join``,
  ``indent``, format widths, ``list`` of a string, ``split``) is refused when that size is
  over the limit, before Python allocates it;
* regular expressions run in the ``regex`` engine, which takes a timeout (the render's
  remaining budget) and releases the GIL while it matches, so the worker's heartbeat thread
  keeps beating;
* jq runs in a helper process (``kernel.expressions.jq``).

An *enclosing budget* (:func:`expression_budget`) caps every render started inside it: a
task's ``timeout`` on a worker, the executor's step under its write lock. A render then stops
at whichever comes first, its own budget or the enclosing one, and says which.
"""

from __future__ import annotations

import contextvars
import re
import string
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import regex

from kernel.expressions.state import (
    DEFAULT_TIMEOUT,
    MAX_OUTPUT,
    MAX_SEQUENCE,
    TIME_LIMIT_MESSAGE,
    ExpressionError,
    LimitExceeded,
    current_state,
    kstr,
    tick,
)

#: Largest width, precision or padding a template may ask for.
MAX_WIDTH = 10_000
#: Longest regular expression a template may compile.
MAX_PATTERN = 10_000


# -------------------------------------------------------------------- enclosing budgets


@dataclass(frozen=True)
class Budget:
    deadline: float  # time.monotonic()
    message: str
    per_expression: float | None = None


_BUDGET: contextvars.ContextVar[Budget | None] = contextvars.ContextVar(
    "trellis_expression_budget", default=None
)


@contextmanager
def expression_budget(
    seconds: float | None = None,
    *,
    until: float | None = None,
    message: str,
    per_expression: float | None = None,
) -> Iterator[Budget]:
    """Every render started inside ends by ``seconds`` from now (or the monotonic time
    ``until``), and each one within ``per_expression`` seconds; ``message`` is the error of
    a render stopped by this budget. Nested budgets only ever tighten."""
    deadline = time.monotonic() + seconds if seconds is not None else float("inf")
    if until is not None:
        deadline = min(deadline, until)
    outer = _BUDGET.get()
    if outer is not None and outer.deadline <= deadline:
        deadline, message = outer.deadline, outer.message
    if outer is not None and outer.per_expression is not None:
        per_expression = min(per_expression or outer.per_expression, outer.per_expression)
    budget = Budget(deadline, message, per_expression)
    token = _BUDGET.set(budget)
    try:
        yield budget
    finally:
        _BUDGET.reset(token)


def session_deadline(timeout: float) -> tuple[float, str]:
    """Deadline and time-out message of a top-level render allowed ``timeout`` seconds."""
    start = time.monotonic()
    budget = _BUDGET.get()
    if budget is None:
        return start + timeout, TIME_LIMIT_MESSAGE
    message = TIME_LIMIT_MESSAGE
    if budget.per_expression is not None and budget.per_expression < timeout:
        timeout, message = budget.per_expression, budget.message
    own = start + timeout
    if budget.deadline < own:
        return budget.deadline, budget.message
    return own, message


def remaining() -> float:
    """Seconds left to the current render (its budget, else the enclosing one's, else the
    default render budget); never negative."""
    state = current_state()
    if state is not None:
        deadline = state.deadline
    else:
        deadline, _ = session_deadline(DEFAULT_TIMEOUT)
    return max(deadline - time.monotonic(), 0.0)


def out_of_time(what: str) -> LimitExceeded:
    """The error of a C-level call stopped at the render's deadline."""
    state = current_state()
    message = state.timeout_message if state is not None else TIME_LIMIT_MESSAGE
    return LimitExceeded(f"{what}: {message}")


# ---------------------------------------------------------------------------- sizes


def _too_big(what: str, size: int, limit: int = MAX_OUTPUT) -> None:
    if size > limit:
        raise LimitExceeded(f"{what} would make {size} characters or items (limit {limit})")


def _width(value: Any, what: str) -> None:
    if isinstance(value, int) and abs(value) > MAX_WIDTH:
        raise LimitExceeded(f"{what} of {value} is too large (limit {MAX_WIDTH})")


def replace_text(text: str, old: str, new: str, count: int = -1) -> str:
    """``text.replace(old, new, count)``, refused before allocation when too large."""
    hits = text.count(old) if old else len(text) + 1
    if count is not None and count >= 0:
        hits = min(hits, count)
    _too_big("replace", len(text) + hits * (len(new) - len(old)))
    return text.replace(old, new, count)


def check_join(items: Any, separator: Any) -> None:
    """``separator.join(items)`` fits the output limit (sized sequences only)."""
    if not isinstance(items, Sequence) or isinstance(items, str):
        return
    sep = len(separator) if isinstance(separator, str) else len(kstr(separator))
    size = sep * max(len(items) - 1, 0)
    _too_big("join", size)
    for item in items:
        size += len(item) if isinstance(item, str) else 0
        _too_big("join", size)


def check_indent(text: str, width: Any, prefix: Any) -> None:
    pad = len(prefix if isinstance(prefix, str) else kstr(prefix)) * int(width or 0)
    _too_big("indent", pad)
    _too_big("indent", len(text) + pad * (text.count("\n") + 1))


def check_split(text: str, separator: Any, maxsplit: Any = -1) -> None:
    if separator is None:
        parts = len(text) // 2 + 1
    elif isinstance(separator, str) and separator:
        parts = text.count(separator) + 1
    else:
        return  # an empty separator fails by itself
    if isinstance(maxsplit, int) and maxsplit >= 0:
        parts = min(parts, maxsplit + 1)
    _too_big("split", parts, MAX_SEQUENCE)


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-+ #0]*(\*|\d+)?(?:\.(\*|\d+))?")


def check_percent_format(fmt: str) -> None:
    """``fmt % args`` asks for no width or precision over :data:`MAX_WIDTH` (nor ``*``)."""
    for match in _PERCENT_SPEC.finditer(fmt):
        for group in match.groups():
            if group == "*":
                raise LimitExceeded("format width from an argument ('*') is not allowed")
            if group is not None:
                _width(int(group), "format width")


_DIGITS = re.compile(r"\d+")


def check_brace_format(fmt: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    """``fmt.format(*args, **kwargs)`` asks for no width or precision over :data:`MAX_WIDTH`,
    whether written in the format (``{0:99999999}``) or taken from an argument
    (``{0:{1}}``: every argument that may fill a nested field is checked)."""
    try:
        fields = list(string.Formatter().parse(fmt))
    except ValueError:
        return  # str.format raises the same error itself
    for _, _, spec, _ in fields:
        if not spec:
            continue
        if "{" in spec:
            for _, nested, _, _ in string.Formatter().parse(spec):
                if nested is not None and not re.fullmatch(r"\w*", nested):
                    raise LimitExceeded("a nested format field must name an argument")
            for value in (*args, *kwargs.values()):
                _width(value, "format width")
                if isinstance(value, str) and len(value) > 5:
                    for digits in _DIGITS.findall(value):
                        _width(int(digits), "format width")
        for digits in _DIGITS.findall(spec):
            _width(int(digits), "format width")


_WIDTH_METHODS = {"center", "ljust", "rjust", "zfill"}
_SPLIT_METHODS = {"split", "rsplit"}


def check_method_call(func: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    """Refuse a call on a string whose result would be over the limits, before it runs."""
    # Jinja hands ``str.format`` out wrapped in its sandboxed formatter (``__wrapped__``).
    func = getattr(func, "__wrapped__", func)
    text = getattr(func, "__self__", None)
    if not isinstance(text, str):
        return
    name = getattr(func, "__name__", "")
    if name in _WIDTH_METHODS:
        for value in (*args, *kwargs.values()):
            _width(value, f"str.{name} width")
    elif name == "expandtabs":
        size = (args[0] if args else kwargs.get("tabsize", 8)) or 0
        _width(size, "tab size")
        _too_big("expandtabs", len(text) + text.count("\t") * max(int(size), 0))
    elif name == "replace" and len(args) >= 2 and all(isinstance(a, str) for a in args[:2]):
        count = args[2] if len(args) > 2 else kwargs.get("count", -1)
        hits = text.count(args[0]) if args[0] else len(text) + 1
        if isinstance(count, int) and count >= 0:
            hits = min(hits, count)
        _too_big("str.replace", len(text) + hits * (len(args[1]) - len(args[0])))
    elif name == "join" and args:
        check_join(args[0], text)
    elif name == "format":
        check_brace_format(text, args, kwargs)
    elif name == "format_map" and args and isinstance(args[0], Mapping):
        check_brace_format(text, (), args[0])
    elif name in _SPLIT_METHODS:
        sep = args[0] if args else kwargs.get("sep")
        check_split(text, sep, args[1] if len(args) > 1 else kwargs.get("maxsplit", -1))
    elif name == "splitlines":
        _too_big("splitlines", text.count("\n") + text.count("\r") + 1, MAX_SEQUENCE)
    elif name == "translate" and args and isinstance(args[0], Mapping):
        longest = max((len(v) for v in args[0].values() if isinstance(v, str)), default=1)
        _too_big("str.translate", len(text) * longest)


#: Filters that turn a string into a list of its characters.
_CHARACTER_LISTS = {
    "list", "sort", "unique", "batch", "map", "select", "reject", "selectattr", "rejectattr",
    "groupby", "distinct", "uniq", "rsort", "chunk", "flatten",
}  # fmt: skip


#: Filters that work word by word in Python, without a time check inside: 10 MB through
#: ``title`` took 50 s against a 5 s budget.
_WORD_BY_WORD = {"title", "wordwrap"}
MAX_WORD_BY_WORD = 1_000_000


def check_filter_call(name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    """Refuse a filter call whose result would be over the limits, before it runs."""
    value = args[0] if args else None
    if name in _CHARACTER_LISTS and isinstance(value, str):
        _too_big(f"'{name}' of a string", len(value), MAX_SEQUENCE)
    elif name == "join":
        check_join(
            value, args[1] if len(args) > 1 else kwargs.get("separator", kwargs.get("d", ""))
        )
    elif name in ("indent", "nindent") and isinstance(value, str):
        width = kwargs.get("width", kwargs.get("amount", args[1] if len(args) > 1 else 4))
        prefix = kwargs.get("prefix", args[2] if len(args) > 2 else " ")
        if isinstance(width, int):
            _width(width, "indentation")
            check_indent(value, width, prefix)
    elif name == "split" and isinstance(value, str):
        delimiter = args[1] if len(args) > 1 else kwargs.get("delimiter")
        limit = args[2] if len(args) > 2 else kwargs.get("limit")
        check_split(
            value, delimiter, int(limit) - 1 if isinstance(limit, int) and limit > 0 else -1
        )
    elif name == "format" and isinstance(value, str):
        check_percent_format(value)
    elif name in _WORD_BY_WORD and isinstance(value, str):
        _too_big(f"'{name}' of a string", len(value), MAX_WORD_BY_WORD)
    elif name in ("escape", "e", "forceescape") and isinstance(value, str):
        grows = 4 * (value.count("&") + value.count('"') + value.count("'"))
        _too_big("escape", len(value) + grows + 3 * (value.count("<") + value.count(">")))


#: Longest date pattern (``now(format=...)``, ``date(...)``) and longest run of one letter.
MAX_DATE_PATTERN = 256
MAX_PATTERN_LETTERS = 32


def check_date_pattern(pattern: str) -> None:
    """A Java date pattern short enough to format at once (Java's own patterns are a few
    dozen characters; each letter run pads to its length)."""
    _too_big("date pattern", len(pattern), MAX_DATE_PATTERN)
    for run in re.finditer(r"([A-Za-z])\1*", pattern):
        _too_big(f"date pattern letter '{run.group(1)}'", len(run.group(0)), MAX_PATTERN_LETTERS)


# --------------------------------------------------------------- regular expressions

_GROUP_REF = re.compile(r"\\(?:\d+|g<[^>]*>)")


def _compile(pattern: str) -> Any:
    if len(pattern) > MAX_PATTERN:
        raise LimitExceeded(f"a regular expression longer than {MAX_PATTERN} characters")
    try:
        return regex.compile(pattern)
    except (regex.error, OverflowError, RecursionError) as exc:
        raise ExpressionError(f"Invalid regular expression '{pattern[:100]}': {exc}") from None


def regex_sub(pattern: str, replacement: str, text: str) -> str:
    """``re.sub`` within the render's budget and the output limit: the match runs in the
    ``regex`` engine with the remaining time as its timeout and without the GIL, and each
    replacement's size is bounded (a group is never longer than its match) before it is
    expanded."""
    compiled = _compile(pattern)
    refs = len(_GROUP_REF.findall(replacement))
    parts: list[str] = []
    size, last = 0, 0
    try:
        matches = compiled.finditer(text, timeout=remaining(), concurrent=True)
        for i, match in enumerate(matches):
            if i % 256 == 0:
                tick()
            start, end = match.span()
            size += start - last + len(replacement) + refs * (end - start)
            _too_big("regular expression replacement", size)
            parts.append(text[last:start])
            parts.append(match.expand(replacement))
            last = end
    except TimeoutError:
        raise out_of_time(f"regular expression '{pattern[:100]}'") from None
    except (regex.error, IndexError) as exc:
        raise ExpressionError(f"Invalid replacement '{replacement[:100]}': {exc}") from None
    parts.append(text[last:])
    return "".join(parts)


def regex_fullmatch(pattern: str, text: str, timeout: float | None = None) -> bool:
    """Whether ``pattern`` matches all of ``text``, within ``timeout`` (default: the
    remaining render budget)."""
    compiled = _compile(pattern)
    try:
        limit = remaining() if timeout is None else timeout
        return compiled.fullmatch(text, timeout=limit, concurrent=True) is not None
    except TimeoutError:
        raise out_of_time(f"regular expression '{pattern[:100]}'") from None

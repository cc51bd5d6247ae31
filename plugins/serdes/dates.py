"""Java ``DateTimeFormatter`` patterns (``yyyy-MM-dd'T'HH:mm:ss.SSS[XXX]``), the spelling of
Kestra's ``dateFormat``, ``datetimeFormat`` and ``timeFormat`` properties.

Only the letters people use in data files are understood: years (``yyyy``, ``uuuu``, ``yy``),
months (``M``, ``MM``, ``MMM``, ``MMMM``), days (``d``, ``dd``), weekday names (``E``...,
printed, skipped when parsing), hours (``H``, ``HH``, ``h``, ``hh`` with ``a``), minutes,
seconds, fractions (``S`` to ``SSSSSSSSS``) and offsets (``X``, ``XX``, ``XXX``, ``x``...,
``Z``); ``'quoted'`` text and ``[optional]`` sections. Any other letter is refused when the
pattern is read, so a typo is an error rather than a wrong date.
"""

from __future__ import annotations

import calendar
import contextlib
import datetime as dt
import re
from dataclasses import dataclass

_FIELDS = {
    "y": "year",
    "u": "year",
    "M": "month",
    "d": "day",
    "E": "weekday",
    "H": "hour",
    "h": "hour12",
    "a": "ampm",
    "m": "minute",
    "s": "second",
    "S": "fraction",
    "X": "offset",
    "x": "offset",
    "Z": "offset",
}
_TIME_FIELDS = {"hour", "hour12", "ampm", "minute", "second", "fraction"}
_DATE_FIELDS = {"year", "month", "day", "weekday"}


@dataclass(frozen=True)
class _Field:
    letter: str
    width: int


@dataclass(frozen=True)
class _Optional:
    parts: tuple[_Part, ...]


_Part = str | _Field | _Optional


def _tokenize(pattern: str) -> tuple[_Part, ...]:
    stack: list[list[_Part]] = [[]]
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "'":
            end = pattern.find("'", i + 1)
            if end < 0:
                raise ValueError(f"date pattern {pattern!r}: unclosed quote")
            stack[-1].append(pattern[i + 1 : end] or "'")
            i = end + 1
        elif ch == "[":
            stack.append([])
            i += 1
        elif ch == "]":
            if len(stack) == 1:
                raise ValueError(f"date pattern {pattern!r}: ']' without '['")
            inner = stack.pop()
            stack[-1].append(_Optional(tuple(inner)))
            i += 1
        elif ch.isalpha():
            j = i
            while j < len(pattern) and pattern[j] == ch:
                j += 1
            if ch not in _FIELDS:
                raise ValueError(f"date pattern {pattern!r}: letter {ch!r} is not supported")
            stack[-1].append(_Field(ch, j - i))
            i = j
        else:
            stack[-1].append(ch)
            i += 1
    if len(stack) != 1:
        raise ValueError(f"date pattern {pattern!r}: unclosed '['")
    return tuple(stack[0])


def _offset_text(moment: dt.datetime | dt.time, field: _Field) -> str:
    delta = moment.utcoffset()
    if delta is None:
        raise ValueError("no time zone")
    minutes = int(delta.total_seconds()) // 60
    if minutes == 0 and field.letter == "X":
        return "Z"
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    if field.letter == "Z" or field.width == 2:
        return f"{sign}{hours:02d}{mins:02d}"
    if field.width == 1:
        return f"{sign}{hours:02d}" + (f"{mins:02d}" if mins else "")
    return f"{sign}{hours:02d}:{mins:02d}"


def _field_text(value: dt.date | dt.datetime | dt.time, field: _Field) -> str:
    name, w = _FIELDS[field.letter], field.width
    has_date = isinstance(value, dt.date)
    has_time = isinstance(value, dt.datetime | dt.time)
    if (name in _DATE_FIELDS and not has_date) or (name in _TIME_FIELDS and not has_time):
        raise ValueError(f"no {name}")
    if name == "year":
        return f"{value.year % 100:02d}" if w == 2 else f"{value.year:0{max(w, 4)}d}"  # type: ignore[union-attr]
    if name == "month":
        month = value.month  # type: ignore[union-attr]
        if w >= 4:
            return calendar.month_name[month]
        return calendar.month_abbr[month] if w == 3 else f"{month:0{w}d}"
    if name == "day":
        return f"{value.day:0{w}d}"  # type: ignore[union-attr]
    if name == "weekday":
        day = value.weekday()  # type: ignore[union-attr]
        return calendar.day_name[day] if w >= 4 else calendar.day_abbr[day]
    if name == "hour":
        return f"{value.hour:0{w}d}"  # type: ignore[union-attr]
    if name == "hour12":
        return f"{(value.hour % 12) or 12:0{w}d}"  # type: ignore[union-attr]
    if name == "ampm":
        return "AM" if value.hour < 12 else "PM"  # type: ignore[union-attr]
    if name == "minute":
        return f"{value.minute:0{w}d}"  # type: ignore[union-attr]
    if name == "second":
        return f"{value.second:0{w}d}"  # type: ignore[union-attr]
    if name == "fraction":
        return f"{value.microsecond:06d}000"[:w]  # type: ignore[union-attr]
    return _offset_text(value, field)  # type: ignore[arg-type]


def _regex(parts: tuple[_Part, ...], seen: set[str]) -> str:
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(re.escape(part))
        elif isinstance(part, _Optional):
            out.append(f"(?:{_regex(part.parts, seen)})?")
        else:
            name, w = _FIELDS[part.letter], part.width
            group = name if name not in seen else None
            seen.add(name)
            if name == "month" and w >= 3 or name == "weekday":
                body = "[A-Za-z]+"
            elif name == "ampm":
                body = "[AaPp][Mm]"
            elif name == "fraction":
                body = r"\d{1,9}"
            elif name == "offset":
                body = r"Z|z|[+-]\d{2}(?::?\d{2})?"
            elif name == "year" and w != 2:
                body = r"[+-]?\d{4,9}"
            else:
                body = rf"\d{{{w},2}}" if w < 2 else rf"\d{{{w}}}"
            out.append(f"(?P<{group}>{body})" if group else f"(?:{body})")
    return "".join(out)


def _offset(text: str) -> dt.tzinfo:
    if text in ("Z", "z"):
        return dt.UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    return dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))


class JavaDateFormat:
    """A Java date pattern, compiled once, that formats and parses values."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self._parts = _tokenize(pattern)
        self._re = re.compile(_regex(self._parts, set()) + r"\Z")

    def format(self, value: dt.date | dt.datetime | dt.time) -> str:
        return self._format(self._parts, value, optional=False)

    def _format(self, parts: tuple[_Part, ...], value: object, *, optional: bool) -> str:
        out = []
        for part in parts:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, _Optional):
                with contextlib.suppress(ValueError):
                    out.append(self._format(part.parts, value, optional=True))
            else:
                try:
                    out.append(_field_text(value, part))  # type: ignore[arg-type]
                except ValueError as exc:
                    if optional:
                        raise
                    raise ValueError(f"{value!r} cannot be written as {self.pattern!r}") from exc
        return "".join(out)

    def parse(self, text: str) -> dt.date | dt.datetime | dt.time:
        """A date, a time or a timestamp (aware when the text has an offset)."""
        found = self._re.match(text.strip())
        if found is None:
            raise ValueError(f"{text!r} does not match {self.pattern!r}")
        g = {k: v for k, v in found.groupdict().items() if v is not None}
        hour = int(g.get("hour", 0))
        if "hour12" in g:
            hour = int(g["hour12"]) % 12 + (12 if g.get("ampm", "AM").upper() == "PM" else 0)
        fraction = int((g.get("fraction", "") + "000000")[:6])
        zone = _offset(g["offset"]) if "offset" in g else None
        timed = any(k in g for k in ("hour", "hour12", "minute", "second"))
        if "year" not in g and "month" not in g and "day" not in g:
            return dt.time(hour, int(g.get("minute", 0)), int(g.get("second", 0)), fraction, zone)
        month = g.get("month", "1")
        if not month.isdigit():
            names = [n.lower() for n in calendar.month_name] + [
                n.lower() for n in calendar.month_abbr
            ]
            month = str(names.index(month.lower()) % 13)
        year = int(g.get("year", "1970"))
        if len(g.get("year", "")) == 2:
            year += 2000
        day = dt.date(year, int(month), int(g.get("day", 1)))
        if not timed:
            return day
        return dt.datetime(
            day.year,
            day.month,
            day.day,
            hour,
            int(g.get("minute", 0)),
            int(g.get("second", 0)),
            fraction,
            tzinfo=zone,
        )

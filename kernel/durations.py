"""ISO-8601 durations as Kestra writes them (``PT1M``, ``P1D``, ``PT0.25S``, ``P1DT2H``).

Pure: used by the engine (retry delays, timeouts, pause delays) and by runnable tasks.
"""

from __future__ import annotations

import re
from datetime import timedelta

_NUM = r"(\d+(?:[.,]\d+)?)"
_DURATION = re.compile(
    rf"(?P<sign>[-+])?P(?:{_NUM}Y)?(?:{_NUM}M)?(?:{_NUM}W)?(?:{_NUM}D)?"
    rf"(?:T(?:{_NUM}H)?(?:{_NUM}M)?(?:{_NUM}S)?)?",
    re.IGNORECASE,
)
#: Years and months have no fixed length; like java.time.Period in a Duration context we
#: count them as 365 and 30 days.
_FACTORS = (365 * 86400, 30 * 86400, 7 * 86400, 86400, 3600, 60, 1)


class DurationError(ValueError):
    """Not an ISO-8601 duration."""


def parse_duration(value: str | int | float | timedelta) -> timedelta:
    """``PT1M`` -> ``timedelta(minutes=1)``. Numbers are seconds (a rendered expression)."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise DurationError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        return _seconds(value, value)
    text = str(value).strip()
    match = _DURATION.fullmatch(text)
    if not match or text.upper().rstrip("T").endswith("P") or text.upper().endswith("T"):
        raise DurationError(f"must be an ISO-8601 duration like PT1M or P1D, not {value!r}")
    seconds = 0.0
    for part, factor in zip(match.groups()[1:], _FACTORS, strict=True):
        if part:
            seconds += float(part.replace(",", ".")) * factor
    if match.group("sign") == "-":
        seconds = -seconds
    return _seconds(seconds, value)


def _seconds(seconds: float, shown: object) -> timedelta:
    try:
        return timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        raise DurationError(f"duration out of range: {shown!r}") from None


def format_duration(delta: timedelta) -> str:
    """``timedelta(seconds=90)`` -> ``PT1M30S`` (Kestra prints durations this way)."""
    total = delta.total_seconds()
    sign = "-" if total < 0 else ""
    total = abs(total)
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    out = "PT"
    if hours:
        out += f"{int(hours)}H"
    if minutes:
        out += f"{int(minutes)}M"
    if seconds or out == "PT":
        out += f"{seconds:g}S"
    return sign + out

"""Database values -> what a flow sees. Two targets:

* :func:`to_json` for outputs (``row``, ``rows``, a trigger's variables): plain JSON types,
  shown the way Kestra shows them — dates, times and timestamps as ISO-8601 strings,
  decimals as numbers, intervals as ISO durations (``PT1H``), binary as base64, UUIDs and
  anything else as strings.
* :func:`to_ion` for STORE files: Ion keeps decimals exact, timestamps typed and binary as a
  blob, so only what Ion cannot hold (times of day, intervals, UUIDs) becomes a string.

``tz`` (the task's ``timeZoneId``) moves timestamps that carry an offset to that zone; a
timestamp without one is shown as the database gave it.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import math
import uuid
import zoneinfo
from collections.abc import Mapping
from typing import Any

_SCALARS = (str, bool, int)


def zone(name: str | None) -> dt.tzinfo | None:
    """The ``timeZoneId`` as a tzinfo; raises ``ValueError`` naming a bad zone."""
    if not name:
        return None
    try:
        return zoneinfo.ZoneInfo(str(name))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timeZoneId {name!r}") from exc


def iso_duration(value: dt.timedelta) -> str:
    """``timedelta`` as Java's ``Duration.toString()`` writes it: ``PT25H3M0.5S``."""
    micros = value // dt.timedelta(microseconds=1)
    sign = "-" if micros < 0 else ""
    micros = abs(micros)
    hours, rem = divmod(micros, 3_600_000_000)
    minutes, rem = divmod(rem, 60_000_000)
    seconds, fraction = divmod(rem, 1_000_000)
    out = "PT"
    if hours:
        out += f"{sign}{hours}H"
    if minutes:
        out += f"{sign}{minutes}M"
    if seconds or fraction or out == "PT":
        sec = f"{seconds}.{fraction:06d}".rstrip("0").rstrip(".") if fraction else str(seconds)
        out += f"{sign}{sec}S"
    return out


def mysql_time(value: dt.timedelta) -> str:
    """MySQL's TIME, which PyMySQL returns as a ``timedelta``, written as MySQL shows it
    (``12:30:00``, ``-838:59:59``, ``01:02:03.500000``)."""
    micros = value // dt.timedelta(microseconds=1)
    sign = "-" if micros < 0 else ""
    seconds, fraction = divmod(abs(micros), 1_000_000)
    hours, rem = divmod(seconds, 3600)
    text = f"{sign}{hours:02d}:{rem // 60:02d}:{rem % 60:02d}"
    return f"{text}.{fraction:06d}" if fraction else text


def _number(value: decimal.Decimal) -> int | float | str:
    if not value.is_finite():
        return str(value)
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def to_json(value: Any, tz: dt.tzinfo | None = None) -> Any:
    """A JSON-able copy of one database value."""
    if value is None or isinstance(value, _SCALARS):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, decimal.Decimal):
        return _number(value)
    if isinstance(value, dt.datetime):
        if tz is not None and value.tzinfo is not None:
            value = value.astimezone(tz)
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return iso_duration(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Mapping):
        return {str(k): to_json(v, tz) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json(v, tz) for v in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)


def to_ion(value: Any, tz: dt.tzinfo | None = None) -> Any:
    """A copy of one database value that ``amazon.ion.simpleion`` can write."""
    if value is None or isinstance(value, (*_SCALARS, float)):
        return value
    if isinstance(value, decimal.Decimal):
        return value if value.is_finite() else float(value)
    if isinstance(value, dt.datetime):
        if tz is not None and value.tzinfo is not None:
            value = value.astimezone(tz)
        return value
    if isinstance(value, dt.date):
        # Imported here: amazon-ion is an optional dependency (the `jdbc` extra).
        from amazon.ion.core import Timestamp, TimestampPrecision

        return Timestamp(value.year, value.month, value.day, precision=TimestampPrecision.DAY)
    if isinstance(value, dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return iso_duration(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, Mapping):
        return {str(k): to_ion(v, tz) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_ion(v, tz) for v in value]
    return str(value)

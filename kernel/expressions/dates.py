"""Dates in expressions: Java `DateTimeFormatter` patterns, as Kestra's `date` filters use.

Formatting walks the Java pattern letter by letter (strftime cannot express `SSS`, `XXX` or
locale-free month names); parsing (`existingFormat`) translates the pattern to strptime.
Naive inputs are taken to be in the requested time zone, UTC by default.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kernel.expressions.limits import check_date_pattern
from kernel.expressions.state import ExpressionError, require_defined

_MONTHS = [
    "January", "February", "March", "April", "May", "June", "July",
    "August", "September", "October", "November", "December",
]  # fmt: skip
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

NAMED_FORMATS = {
    "iso": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX",
    "iso_sec": "yyyy-MM-dd'T'HH:mm:ssXXX",
    "sql": "yyyy-MM-dd HH:mm:ss.SSSSSS",
    "sql_seq": "yyyy-MM-dd HH:mm:ss",
    "iso_date_time": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX",
    "iso_zoned_date_time": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX",
    "iso_offset_date_time": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX",
    "iso_date": "yyyy-MM-ddXXX",
    "iso_time": "HH:mm:ss.SSSSSSXXX",
    "iso_local_date": "yyyy-MM-dd",
    "iso_local_time": "HH:mm:ss.SSSSSS",
    "iso_local_date_time": "yyyy-MM-dd'T'HH:mm:ss.SSSSSS",
    "iso_offset_time": "HH:mm:ss.SSSSSSXXX",
    "iso_ordinal_date": "yyyy-DDDXXX",
    "iso_instant": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSX",
    "rfc_1123_date_time": "EEE, d MMM yyyy HH:mm:ss 'GMT'",
}

_PATTERN_TOKEN = re.compile(r"'(?:[^']|'')*'|([A-Za-z])\1*|.", re.S)


def zone(name: str | None) -> dt.tzinfo:
    if not name:
        return dt.UTC
    if name in ("UTC", "Z", "GMT"):
        return dt.UTC
    if re.fullmatch(r"[+-]\d{2}:?\d{2}", name):
        sign = -1 if name[0] == "-" else 1
        digits = name[1:].replace(":", "")
        delta = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        return dt.timezone(sign * delta)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ExpressionError(f"Unknown time zone '{name}'") from None


def _offset(d: dt.datetime, count: int, letter: str) -> str:
    off = d.utcoffset() or dt.timedelta(0)
    if letter in "X" and off == dt.timedelta(0):
        return "Z"
    total = int(off.total_seconds() // 60)
    sign = "-" if total < 0 else "+"
    hours, minutes = divmod(abs(total), 60)
    if letter == "Z":
        if count == 4:
            return "GMT" if total == 0 else f"GMT{sign}{hours:02d}:{minutes:02d}"
        if count == 5:
            return "Z" if total == 0 else f"{sign}{hours:02d}:{minutes:02d}"
        return f"{sign}{hours:02d}{minutes:02d}"
    if letter == "O":
        if total == 0:
            return "GMT"
        return f"GMT{sign}{hours}" + (f":{minutes:02d}" if minutes else "")
    if count == 1:
        return f"{sign}{hours:02d}" + (f"{minutes:02d}" if minutes else "")
    if count in (2, 4):
        return f"{sign}{hours:02d}{minutes:02d}"
    return f"{sign}{hours:02d}:{minutes:02d}"


def _field(d: dt.datetime, letter: str, count: int) -> str:  # noqa: C901 - one case per letter
    def num(value: int) -> str:
        return str(value).zfill(count)

    if letter in "yu":
        return f"{d.year % 100:02d}" if count == 2 else str(d.year).zfill(count)
    if letter == "Y":
        year = d.isocalendar().year
        return f"{year % 100:02d}" if count == 2 else str(year).zfill(count)
    if letter in "ML":
        if count >= 5:
            return _MONTHS[d.month - 1][0]
        if count == 4:
            return _MONTHS[d.month - 1]
        if count == 3:
            return _MONTHS[d.month - 1][:3]
        return num(d.month)
    if letter == "d":
        return num(d.day)
    if letter == "D":
        return num(d.timetuple().tm_yday)
    if letter == "E" or (letter in "ec" and count >= 3):
        name = _DAYS[d.weekday()]
        return name if count == 4 else name[0] if count >= 5 else name[:3]
    if letter in "ec":
        return num(d.isoweekday() % 7 + 1)
    if letter == "a":
        return "AM" if d.hour < 12 else "PM"
    if letter == "H":
        return num(d.hour)
    if letter == "k":
        return num(d.hour or 24)
    if letter == "K":
        return num(d.hour % 12)
    if letter == "h":
        return num(d.hour % 12 or 12)
    if letter == "m":
        return num(d.minute)
    if letter == "s":
        return num(d.second)
    if letter == "S":
        return f"{d.microsecond:06d}{'0' * 3}"[:count].ljust(count, "0")
    if letter == "n":
        return num(d.microsecond * 1000)
    if letter == "A":
        return num((d.hour * 3600 + d.minute * 60 + d.second) * 1000 + d.microsecond // 1000)
    if letter in "XxZO":
        return _offset(d, count, letter)
    if letter == "V":
        return getattr(d.tzinfo, "key", None) or _offset(d, 5, "Z")
    if letter == "z":
        return d.tzname() or "UTC"
    if letter == "Q" or letter == "q":
        quarter = (d.month - 1) // 3 + 1
        return f"Q{quarter}" if count == 3 else num(quarter)
    if letter == "w":
        return num(d.isocalendar().week)
    if letter == "G":
        return "AD"
    raise ExpressionError(f"Unknown pattern letter: {letter}")


def format_java(value: dt.datetime, pattern: str) -> str:
    """Format an aware datetime with a Java DateTimeFormatter pattern."""
    check_date_pattern(pattern)
    out: list[str] = []
    for m in _PATTERN_TOKEN.finditer(pattern):
        tok = m.group(0)
        if tok.startswith("'"):
            out.append("'" if tok == "''" else tok[1:-1].replace("''", "'"))
        elif m.group(1):
            out.append(_field(value, tok[0], len(tok)))
        elif tok not in "[]":
            out.append(tok)
    return "".join(out)


_STRPTIME = {
    "yyyy": "%Y", "uuuu": "%Y", "yy": "%y", "MM": "%m", "M": "%m", "MMM": "%b", "MMMM": "%B",
    "dd": "%d", "d": "%d", "HH": "%H", "H": "%H", "hh": "%I", "h": "%I", "mm": "%M", "m": "%M",
    "ss": "%S", "s": "%S", "a": "%p", "EEE": "%a", "EEEE": "%A", "DDD": "%j", "XXX": "%z",
    "XX": "%z", "X": "%z", "Z": "%z", "xxx": "%z", "z": "%Z",
}  # fmt: skip


def java_to_strptime(pattern: str) -> str:
    """Translate a Java pattern to a strptime format (for `existingFormat`)."""
    out: list[str] = []
    for m in _PATTERN_TOKEN.finditer(pattern):
        tok = m.group(0)
        if tok.startswith("'"):
            text = "'" if tok == "''" else tok[1:-1].replace("''", "'")
            out.append(text.replace("%", "%%"))
        elif m.group(1):
            if tok[0] == "S":
                out.append("%f")
            elif tok in _STRPTIME:
                out.append(_STRPTIME[tok])
            else:
                raise ExpressionError(f"Unsupported pattern '{tok}' in existingFormat")
        elif tok not in "[]":
            out.append(tok.replace("%", "%%"))
    return "".join(out)


def to_datetime(value: Any, tz: dt.tzinfo, existing_format: str | None = None) -> dt.datetime:
    """Accept datetimes, dates, ISO strings and epoch seconds; return an aware datetime."""
    require_defined(value)
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=tz)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(), tzinfo=tz)
    if isinstance(value, bool) or value is None:
        raise ExpressionError(f"Cannot convert '{value}' to a date")
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, tz=dt.UTC).astimezone(tz)
    text = str(value).strip()
    try:
        if existing_format:
            fmt = NAMED_FORMATS.get(existing_format, existing_format)
            parsed = dt.datetime.strptime(text, java_to_strptime(fmt))  # noqa: DTZ007 - zone set below
        elif re.fullmatch(r"-?\d+", text):
            return dt.datetime.fromtimestamp(int(text), tz=dt.UTC).astimezone(tz)
        else:
            parsed = dt.datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise ExpressionError(f"Cannot parse '{text}' as a date") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def format_date(
    value: Any,
    format: str | None = None,  # noqa: A002 - Kestra's argument name
    timeZone: str | None = None,  # noqa: N803
    existingFormat: str | None = None,  # noqa: N803
    locale: str | None = None,
) -> str:
    """Kestra's `date` filter: `{{ x | date("yyyy-MM-dd", timeZone="Europe/Paris") }}`."""
    tz = zone(timeZone)
    moment = to_datetime(value, tz, existingFormat)
    if timeZone:
        moment = moment.astimezone(tz)
    pattern = NAMED_FORMATS.get(format or "iso", format or "iso")
    return format_java(moment, pattern)


_UNITS = {
    "NANOS": dt.timedelta(microseconds=0.001),
    "MICROS": dt.timedelta(microseconds=1),
    "MILLIS": dt.timedelta(milliseconds=1),
    "SECONDS": dt.timedelta(seconds=1),
    "MINUTES": dt.timedelta(minutes=1),
    "HOURS": dt.timedelta(hours=1),
    "HALF_DAYS": dt.timedelta(hours=12),
    "DAYS": dt.timedelta(days=1),
    "WEEKS": dt.timedelta(weeks=1),
}


def date_add(
    value: Any,
    amount: int,
    unit: str,
    format: str | None = None,  # noqa: A002
    timeZone: str | None = None,  # noqa: N803
    existingFormat: str | None = None,  # noqa: N803
    locale: str | None = None,
) -> str:
    """Kestra's `dateAdd(amount, unit)`: units are Java ChronoUnit names."""
    tz = zone(timeZone)
    moment = to_datetime(value, tz, existingFormat)
    unit_name = str(unit).upper()
    if unit_name in ("MONTHS", "YEARS", "DECADES", "CENTURIES"):
        months = (
            int(amount) * {"MONTHS": 1, "YEARS": 12, "DECADES": 120, "CENTURIES": 1200}[unit_name]
        )
        total = moment.year * 12 + moment.month - 1 + months
        year, month = divmod(total, 12)
        day = min(moment.day, _days_in_month(year, month + 1))
        moment = moment.replace(year=year, month=month + 1, day=day)
    elif unit_name in _UNITS:
        moment = moment + _UNITS[unit_name] * int(amount)
    else:
        raise ExpressionError(f"Unknown unit '{unit}' for dateAdd")
    return format_date(moment, format, timeZone, None, locale)


def _days_in_month(year: int, month: int) -> int:
    nxt = dt.date(year + month // 12, month % 12 + 1, 1)
    return (nxt - dt.timedelta(days=1)).day


def _epoch(value: Any, timeZone: str | None, existingFormat: str | None) -> dt.datetime:  # noqa: N803
    return to_datetime(value, zone(timeZone), existingFormat)


def timestamp(value: Any, timeZone: str | None = None, existingFormat: str | None = None) -> int:  # noqa: N803
    return int(_epoch(value, timeZone, existingFormat).timestamp())


def timestamp_milli(
    value: Any, timeZone: str | None = None, existingFormat: str | None = None
) -> int:  # noqa: N803, E501
    moment = _epoch(value, timeZone, existingFormat)
    return int(moment.timestamp()) * 1000 + moment.microsecond // 1000


def timestamp_micro(
    value: Any, timeZone: str | None = None, existingFormat: str | None = None
) -> int:  # noqa: N803, E501
    moment = _epoch(value, timeZone, existingFormat)
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def timestamp_nano(
    value: Any, timeZone: str | None = None, existingFormat: str | None = None
) -> int:  # noqa: N803, E501
    return timestamp_micro(value, timeZone, existingFormat) * 1000


DATE_FILTERS = {
    "date": format_date,
    "dateAdd": date_add,
    "timestamp": timestamp,
    "timestampMilli": timestamp_milli,
    "timestampMicro": timestamp_micro,
    "timestampNano": timestamp_nano,
}

"""Kestra's internal row format: text Ion, one value (usually a struct) a line.

Every serdes task reads or writes this format; so do the families that store rows or messages
for the next task (a SQL query's STORE, a broker's Consume): it is the kernel's because it is
what tasks hand each other through internal storage. Rows are plain Python values on our side so the format
modules never see Ion types:

    Ion        Python                       Ion        Python
    null.*     None                         timestamp  datetime (aware; naive if -00:00),
    bool       bool                                    date when the precision is a day or
    int        int                                     coarser
    float      float                        string     str (symbols too)
    decimal    Decimal                      blob/clob  bytes
    list/sexp  list                         struct     dict (last of repeated field names)

Writing maps back the same way (``time`` and UUID values become strings: Ion has no such
type). Annotations are dropped on read. The ``$ion_1_0`` marker is accepted on read and never
written, as Kestra's files have none.

Reading is lazy (a generator over the stream) and writing is one value a line, so files of any
size pass through in constant memory. The ``amazon-ion`` package is imported when a file is read or
written, not at import time.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import uuid
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import IO, Any

# Ion timestamp precisions coarser than a time of day (YEAR, MONTH, DAY) read as dates.
_DATE_PRECISIONS = 3


#: The longest text or blob value read (the C reader needs a bound; past it, an error).
MAX_VALUE_BYTES = 256 * 1024 * 1024
_MIN_BUFFER = 4096


def read_rows(stream: IO[bytes] | IO[str], size: int | None = None) -> Iterator[Any]:
    """Each top-level value of an Ion stream (bytes of text or binary Ion, or text), as plain
    Python, lazily. ``size`` is the stream's length when known (a file's), so that no text
    value can be longer than the C reader's buffer: at its own default (4 KiB) the reader
    refuses longer strings, and a 200,000-character one crashed the process in a test."""
    # imported when a file is read: importing the kernel loads no Ion library
    from amazon.ion import simpleion

    if size is None:
        size = _remaining(stream)
    limit = max(_MIN_BUFFER, min(size if size is not None else MAX_VALUE_BYTES, MAX_VALUE_BYTES))
    values = simpleion.load(
        stream, single_value=False, parse_eagerly=False, text_buffer_size_limit=limit
    )
    for value in values:
        yield to_python(value)


def _remaining(stream: IO[bytes] | IO[str]) -> int | None:
    """Bytes left in a seekable stream (four a character for a text stream, UTF-8's most),
    else None."""
    try:
        here = stream.tell()
        end = stream.seek(0, 2)
        stream.seek(here)
    except (OSError, ValueError, AttributeError):
        return None
    return (end - here) * (4 if isinstance(stream, io.TextIOBase) else 1)


def loads(text: str) -> Any:
    """One Ion value from text, as plain Python (tests and small values)."""
    # optional dependency (extra "serdes"): imported when a value is read
    from amazon.ion import simpleion

    limit = max(_MIN_BUFFER, 4 * len(text))
    return to_python(simpleion.loads(text, text_buffer_size_limit=limit))


def to_python(value: Any) -> Any:
    """An ``amazon.ion`` simple value -> the plain Python value of the table above."""
    if value is None:
        return None
    kind = getattr(value, "ion_type", None)
    if kind is None:  # already plain (a value simpleion returned unwrapped)
        return value
    return _readers()[kind](value)


@functools.cache
def _readers() -> dict[Any, Callable[[Any], Any]]:
    """One converter per Ion type, built once (the import happens when a file is read)."""
    # optional dependency (extra "serdes"): imported when the first value is converted
    from amazon.ion.core import IonType
    from amazon.ion.simple_types import IonPyNull

    def guard(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
        # a typed null (null.int, null.struct...) carries its type but holds nothing
        return lambda v: None if isinstance(v, IonPyNull) else convert(v)

    readers: dict[Any, Callable[[Any], Any]] = {
        IonType.NULL: lambda v: None,
        IonType.BOOL: bool,
        IonType.INT: int,
        IonType.FLOAT: float,
        IonType.DECIMAL: Decimal,
        IonType.STRING: str,
        IonType.SYMBOL: lambda v: str(getattr(v, "text", v)),
        IonType.BLOB: bytes,
        IonType.CLOB: bytes,
        IonType.TIMESTAMP: _timestamp,
        IonType.LIST: lambda v: [to_python(x) for x in v],
        IonType.SEXP: lambda v: [to_python(x) for x in v],
        IonType.STRUCT: lambda v: {str(k): to_python(x) for k, x in v.items()},
    }
    return {kind: guard(convert) for kind, convert in readers.items()}


def _timestamp(value: Any) -> dt.date | dt.datetime:
    precision = getattr(value, "precision", None)
    if precision is not None and int(precision) < _DATE_PRECISIONS:
        return dt.date(value.year, value.month, value.day)
    return dt.datetime(
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
        tzinfo=value.tzinfo,
    )


_PLAIN = frozenset({str, int, float, bool, type(None), Decimal, bytes})


def to_ion(value: Any) -> Any:
    """A plain Python value -> something ``simpleion.dumps`` writes as the Ion of the table."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if isinstance(value, dict):
        return {str(k): to_ion(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_ion(v) for v in value]
    if isinstance(value, dt.datetime):
        timestamp, precision = _timestamp_types()
        return timestamp(
            value.year,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second,
            value.microsecond,
            tzinfo=value.tzinfo,
            precision=precision.SECOND,
            fractional_precision=_fraction_digits(value.microsecond),
        )
    if isinstance(value, dt.date):
        timestamp, precision = _timestamp_types()
        return timestamp(value.year, value.month, value.day, precision=precision.DAY)
    if isinstance(value, dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    return value


@functools.cache
def _timestamp_types() -> tuple[Any, Any]:
    # optional dependency (extra "serdes"): imported when the first timestamp is written
    from amazon.ion.core import Timestamp, TimestampPrecision

    return Timestamp, TimestampPrecision


def _fraction_digits(microsecond: int) -> int:
    """Digits written after the seconds: none, milliseconds or microseconds."""
    if not microsecond:
        return 0
    return 3 if microsecond % 1000 == 0 else 6


def dumps(value: Any) -> str:
    """One value as a line of text Ion, without the version marker or a newline."""
    # imported when a value is written: importing the kernel loads no Ion library
    from amazon.ion import simpleion

    return simpleion.dumps(to_ion(value), binary=False, omit_version_marker=True)


class IonWriter:
    """Writes rows to a text stream, one Ion value a line; counts them."""

    def __init__(self, stream: IO[str]) -> None:
        # imported when a file is written: importing the kernel loads no Ion library
        from amazon.ion import simpleion

        self._dumps = simpleion.dumps
        self._stream = stream
        self.count = 0

    def write(self, row: Any) -> None:
        self._stream.write(self._dumps(to_ion(row), binary=False, omit_version_marker=True))
        self._stream.write("\n")
        self.count += 1


def write_rows(stream: IO[str], rows: Iterable[Any]) -> int:
    """Write every row, one a line; returns how many were written."""
    writer = IonWriter(stream)
    for row in rows:
        writer.write(row)
    return writer.count

"""Rows as Ion text, one row (a struct) per line, the format of Kestra's STORE files.

Written without the ``$ion_1_0`` version marker, which Kestra's files do not carry; each row is
written as it comes, so a file of any size is written in constant memory. Rows whose values
are all plain scalars (text, integers, floats, booleans, nulls, decimals: most of a table) are
written by a few lines of Python, several times faster than a call into ``simpleion``; any
other row goes through ``amazon.ion.simpleion``. Both give the same Ion (a test checks).
Kestra's serdes tasks and :func:`read_rows` read it back.
"""

from __future__ import annotations

import decimal
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from kernel import ion

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*\Z")  # $n would be a symbol id
_KEYWORDS = frozenset({"true", "false", "null", "nan"})


def symbol(name: str) -> str:
    """A struct field name: bare when it is an Ion identifier, else a quoted symbol."""
    if _IDENTIFIER.match(name) and name not in _KEYWORDS:
        return name
    quoted = json.dumps(name, ensure_ascii=False)[1:-1].replace("'", "\\'").replace('\\"', '"')
    return f"'{quoted}'"


def scalar(value: Any) -> str | None:
    """Ion text of a plain scalar, or None when ``simpleion`` must write it."""
    kind = type(value)
    if kind is str:
        return json.dumps(value, ensure_ascii=False)
    if kind is int:
        return str(value)
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is float:
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "+inf" if value > 0 else "-inf"
        text = repr(value)
        return text if "e" in text else f"{text}e0"
    if kind is decimal.Decimal and value.is_finite():
        text = str(value)
        if "E" in text:
            return text.replace("E", "d")
        return text if "." in text else f"{text}."
    return None


class IonRowWriter:
    """Append rows to an Ion text file; use as a context manager. ``columns``, when known,
    saves working out each field name per row."""

    def __init__(self, path: Path, columns: Sequence[str] | None = None) -> None:
        # Imported here: amazon-ion is an optional dependency (the `jdbc` extra).
        from amazon.ion import simpleion

        self._dumps = simpleion.dumps
        self.path = path
        self.count = 0
        self._names = [symbol(c) for c in columns] if columns is not None else None
        self._out: IO[str] = path.open("w", encoding="utf-8", newline="\n")

    def write(self, row: Mapping[str, Any]) -> None:
        """Write one row; values must already be Ion-able (see ``values.to_ion``)."""
        names = self._names if self._names is not None and len(self._names) == len(row) else None
        names = names or [symbol(k) for k in row]
        parts = []
        for name, value in zip(names, row.values(), strict=True):
            text = scalar(value)
            if text is None:
                line = self._dumps(dict(row), binary=False, omit_version_marker=True)
                break
            parts.append(f"{name}:{text}")
        else:
            line = "{" + ",".join(parts) + "}"
        self._out.write(line)
        self._out.write("\n")
        self.count += 1

    def close(self) -> None:
        self._out.close()

    def __enter__(self) -> IonRowWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_rows(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of an Ion text file, one at a time (the kernel's reader: any layout, lazily)."""
    with path.open("rb") as stream:
        yield from (dict(row) for row in ion.read_rows(stream, path.stat().st_size))

"""Rows as Ion text, one row (a struct) per line, the format of Kestra's STORE files.

Written with ``amazon.ion.simpleion`` (text, without the ``$ion_1_0`` version marker, which
Kestra's files do not carry); each row is written as it comes, so a file of any size is
written in constant memory. Kestra's serdes tasks and :func:`read_rows` read it back.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any


class IonRowWriter:
    """Append rows to an Ion text file; use as a context manager."""

    def __init__(self, path: Path) -> None:
        # Imported here: amazon-ion is an optional dependency (the `jdbc` extra).
        from amazon.ion import simpleion

        self._dumps = simpleion.dumps
        self.path = path
        self.count = 0
        self._out: IO[str] = path.open("w", encoding="utf-8", newline="\n")

    def write(self, row: Mapping[str, Any]) -> None:
        """Write one row; values must already be Ion-able (see ``values.to_ion``)."""
        self._out.write(self._dumps(dict(row), binary=False, omit_version_marker=True))
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
    """Rows of an Ion text file, one at a time (each line holds one value)."""
    from amazon.ion import simpleion  # optional dependency (the `jdbc` extra)

    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield dict(simpleion.loads(line))

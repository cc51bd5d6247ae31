"""CSV <-> Ion (Kestra's ``serdes.csv.CsvToIon`` and ``IonToCsv``), one record at a time
through the standard ``csv`` module.

CsvToIon keeps every field as text, as Kestra does (typing is the job of IonToAvro's or
IonToParquet's schema): with ``header`` each record becomes a struct keyed by the header's
names, without it a list.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from kernel.plugin import Output, Prop, RunContext, TaskFailed
from plugins.serdes.common import (
    CHARSET,
    FROM,
    ON_BAD_LINES,
    TEXT_FORMAT_PROPS,
    WRITE_HEADER,
    BadLines,
    SerdesTask,
    TextFormats,
    charset,
    read_ion,
    row_cells,
    source_path,
    stop_point,
    store,
    target_path,
    text_stream,
    write_ion_rows,
)

#: Kestra's default limit on one field (the csv module's own is 128 KiB).
MAX_FIELD_SIZE = 16 * 1024 * 1024

_EXAMPLE = """id: csv_round_trip
namespace: trellis.examples
tasks:
  - id: write
    type: trellis.core.storage.Write
    content: |
      id,name
      1,Ada
      2,Grace
    extension: .csv
  - id: to_ion
    type: trellis.serdes.csv.CsvToIon
    from: "{{ outputs.write.uri }}"
  - id: to_csv
    type: trellis.serdes.csv.IonToCsv
    from: "{{ outputs.to_ion.uri }}"
    fieldSeparator: ";"
"""


def _one_char(props: Mapping[str, Any], name: str, default: str) -> str:
    value = props.get(name)
    text = default if value is None else str(value)
    if len(text) > 1:
        raise TaskFailed(f"{name} must be a single character, not {text!r}")
    return text


def _dialect(props: Mapping[str, Any]) -> dict[str, Any]:
    separator = _one_char(props, "fieldSeparator", ",")
    if not separator:
        raise TaskFailed("fieldSeparator must be a single character")
    quote = _one_char(props, "textDelimiter", '"')
    if quote:
        return {"delimiter": separator, "quotechar": quote, "doublequote": True}
    return {"delimiter": separator, "quoting": csv.QUOTE_NONE, "escapechar": "\\"}


def _check_char(props: Mapping[str, Any], name: str) -> list[tuple[str, str]]:
    value = props.get(name)
    if isinstance(value, str) and len(value) > 1 and "{{" not in value:
        return [(name, f"{name} must be a single character")]
    return []


class _CsvTask(SerdesTask):
    """Both CSV tasks: one-character ``fieldSeparator`` and ``textDelimiter``."""

    @classmethod
    def validate_props(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return _check_char(props, "fieldSeparator") + _check_char(props, "textDelimiter")


class CsvToIon(_CsvTask):
    """Read a CSV file and write it as Ion rows (every field as text)."""

    type = "trellis.serdes.csv.CsvToIon"
    aliases = ("io.kestra.plugin.serdes.csv.CsvToIon", "io.kestra.plugin.serdes.csv.CsvReader")
    properties: ClassVar = (
        FROM,
        Prop("header", "boolean", default=True, description="The first record names the fields."),
        Prop("fieldSeparator", "string", default=","),
        Prop("textDelimiter", "string", default='"', description="Quote character; empty: none."),
        Prop("skipRows", "integer", default=0, description="Records skipped before the header."),
        Prop("skipEmptyRows", "boolean", default=False),
        CHARSET,
        ON_BAD_LINES,
        Prop("onEmptyHeader", "string", default="DROP", choices=("DROP", "RENAME"),
             description="Unnamed header columns: dropped at the end, or named col_<n>."),
        Prop("maxFieldSize", "integer", default=MAX_FIELD_SIZE,
             description="Longest field, in characters; a longer one fails the task."),
        Prop("errorOnDifferentFieldCount", "boolean", default=False,
             deprecated="use onBadLines: ERROR",
             description="A record whose field count differs from the header's fails."),
    )  # fmt: skip
    examples = (_EXAMPLE,)

    outputs: ClassVar = (Output("uri", "The converted file.", "uri"),)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        source = source_path(ctx, props.get("from"))
        target = target_path(ctx, source, ".ion")
        header = props.get("header") is not False
        skip_rows = max(0, int(props.get("skipRows") or 0))
        skip_empty = props.get("skipEmptyRows") is True
        mode = props.get("onBadLines") or "ERROR"
        if props.get("errorOnDifferentFieldCount") is True:
            mode = "ERROR"
        bad = BadLines(ctx, mode)
        # The csv module's limit is process-wide; each run sets the one it asks for.
        csv.field_size_limit(int(props.get("maxFieldSize") or MAX_FIELD_SIZE))
        with text_stream(source, charset(props)) as stream:
            reader = csv.reader(stream, **_dialect(props))
            rename = props.get("onEmptyHeader") == "RENAME"
            records = _records(reader, header, skip_rows, skip_empty, bad, rename)
            count = write_ion_rows(ctx, target, records)
        ctx.logger.debug(f"Converted {count} CSV records to Ion")
        return {"uri": store(ctx, target)}


def _records(
    reader: Iterator[list[str]],
    header: bool,
    skip_rows: int,
    skip_empty: bool,
    bad: BadLines,
    rename_empty: bool = False,
) -> Iterator[Any]:
    try:
        for _ in range(skip_rows):
            next(reader)
        names: list[str] | None = None
        width = 0
        for fields in reader:
            if skip_empty and (not fields or fields == [""]):
                continue
            if not header:
                yield fields
                continue
            if names is None:
                names, width = _header(fields, rename_empty), len(fields)
                continue
            if not fields:
                fields = [""]
            if len(fields) != width:
                bad(
                    f"line {reader.line_num}",  # type: ignore[attr-defined]
                    f"{len(fields)} fields where the header has {width}",
                )
                continue
            yield dict(zip(names, fields, strict=False))
    except StopIteration:
        return
    except csv.Error as exc:
        raise TaskFailed(f"line {reader.line_num}: {exc}") from exc  # type: ignore[attr-defined]


def _header(fields: list[str], rename_empty: bool) -> list[str]:
    """Header names. Unnamed columns at the end are dropped (Kestra's ``onEmptyHeader: DROP``,
    their values with them) or named ``col_<index>`` (``RENAME``); a repeated name gets a
    ``_2`` suffix so no value is lost."""
    names = list(fields)
    if rename_empty:
        names = [name or f"col_{i}" for i, name in enumerate(names)]
    while names and names[-1] == "":
        names.pop()
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return unique


class IonToCsv(_CsvTask):
    """Read Ion rows and write them as a CSV file (a header from the first row's fields)."""

    type = "trellis.serdes.csv.IonToCsv"
    aliases = ("io.kestra.plugin.serdes.csv.IonToCsv", "io.kestra.plugin.serdes.csv.CsvWriter")
    properties: ClassVar = (
        FROM,
        WRITE_HEADER,
        Prop("fieldSeparator", "string", default=","),
        Prop("textDelimiter", "string", default='"'),
        Prop("lineDelimiter", "string", default="\n", description="What ends each record."),
        Prop("alwaysDelimitText", "boolean", default=False,
             description="Quote every field, not only those that need it."),
        *TEXT_FORMAT_PROPS,
    )  # fmt: skip
    examples = (_EXAMPLE,)

    outputs: ClassVar = (Output("uri", "The converted file.", "uri"),)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        source = source_path(ctx, props.get("from"))
        target = target_path(ctx, source, ".csv")
        formats = TextFormats(props)
        dialect = _dialect(props)
        dialect["lineterminator"] = str(props.get("lineDelimiter") or "\n")
        if props.get("alwaysDelimitText") is True and dialect.get("quoting") != csv.QUOTE_NONE:
            dialect["quoting"] = csv.QUOTE_ALL
        header = props.get("header") is not False
        dropped: set[str] = set()
        count = 0
        with target.open("w", encoding=charset(props), newline="") as stream:
            writer = csv.writer(stream, **dialect)

            def write_header(columns: list[str]) -> None:
                if header:
                    writer.writerow(columns)

            for row, columns, values in row_cells(read_ion(source), write_header):
                if isinstance(row, dict):
                    extra = row.keys() - set(columns or ()) - dropped
                    if extra:
                        dropped |= extra
                        ctx.logger.warning(
                            f"fields {sorted(extra)} are not in the first row: not written"
                        )
                writer.writerow([formats.text(v) for v in values])
                count += 1
                stop_point(ctx, count)
        ctx.logger.debug(f"Converted {count} Ion rows to CSV")
        return {"uri": store(ctx, target)}


PLUGINS = [CsvToIon, IonToCsv]

"""Excel (xlsx) <-> Ion (Kestra's ``serdes.excel.ExcelToIon`` and ``IonToExcel``) on
openpyxl's read-only and write-only modes, which stream rows through the sheet's XML.

ExcelToIon writes one Ion file per sheet and outputs ``uris`` (sheet title -> URI); IonToExcel
takes one Ion file (a sheet titled ``sheetsTitle``) or a map of sheet title -> Ion file.
Limits: the workbook's shared-strings table is held in memory on both sides (the format
puts every distinct text there), and ``FORMATTED_VALUE`` gives values as text without applying
Excel's number formats.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar

from kernel.plugin import Output, Prop, RunContext, TaskFailed
from plugins.serdes.common import (
    CHARSET,
    FROM,
    TEXT_FORMAT_PROPS,
    WRITE_HEADER,
    SerdesTask,
    TextFormats,
    ion_output,
    json_safe,
    read_ion,
    row_cells,
    source_path,
    stop_point,
    store,
    target_path,
    time_zone,
)

VALUE_RENDERS = ("FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA")
DATE_TIME_RENDERS = ("SERIAL_NUMBER", "FORMATTED_STRING", "UNFORMATTED_VALUE")
#: Excel refuses longer text in a cell.
MAX_CELL_TEXT = 32_767

_EXAMPLE = """id: excel_round_trip
namespace: trellis.examples
tasks:
  - id: write
    type: trellis.core.storage.Write
    content: |
      product,price
      pen,1.5
    extension: .csv
  - id: to_ion
    type: trellis.serdes.csv.CsvToIon
    from: "{{ outputs.write.uri }}"
  - id: to_excel
    type: trellis.serdes.excel.IonToExcel
    from:
      Products: "{{ outputs.to_ion.uri }}"
  - id: back
    type: trellis.serdes.excel.ExcelToIon
    from: "{{ outputs.to_excel.uri }}"
  - id: log
    type: trellis.core.log.Log
    message: "{{ outputs.back.uris.Products }}"
"""


def _sheets(value: Any, title: str) -> dict[str, str]:
    """``from``: one URI, a map of sheet title -> URI, or that map as JSON text."""
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise TaskFailed(f"from: not a map of sheet titles to URIs: {exc}") from exc
    if isinstance(value, dict):
        if not value:
            raise TaskFailed("from: give at least one sheet")
        return {str(k): str(v) for k, v in value.items()}
    return {title: str(value or "")}


class IonToExcel(SerdesTask):
    """Write Ion rows to an xlsx workbook, one sheet per Ion file; outputs ``uri`` and
    ``size`` (rows written)."""

    type = "trellis.serdes.excel.IonToExcel"
    aliases = ("io.kestra.plugin.serdes.excel.IonToExcel",)
    requires = ("amazon.ion", "openpyxl")
    properties: ClassVar = (
        Prop("from", "any", required=True,
             description="An Ion file URI, or a map of sheet title -> Ion file URI."),
        Prop("sheetsTitle", "string", default="Sheet",
             description="Title of the sheet when from is one URI."),
        WRITE_HEADER,
        Prop("styles", "boolean", default=True,
             description="Give date and time cells a date format (else they are text)."),
        *TEXT_FORMAT_PROPS,
    )  # fmt: skip
    examples = (_EXAMPLE,)

    outputs: ClassVar = (
        Output("uri", "The workbook.", "uri"),
        Output("size", "Rows written.", "integer"),
    )

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        # optional dependency (extra "serdes"): imported when the task runs
        from openpyxl import Workbook

        sheets = _sheets(props.get("from"), str(props.get("sheetsTitle") or "Sheet"))
        sources = {title: source_path(ctx, uri) for title, uri in sheets.items()}
        target = target_path(ctx, next(iter(sources.values())), ".xlsx")
        formats = TextFormats(props)
        styles = props.get("styles") is not False
        zone = time_zone(props)
        header = props.get("header") is not False
        workbook = Workbook(write_only=True)
        size = 0
        for title, source in sources.items():
            sheet = workbook.create_sheet(title=title[:31])

            def write_header(columns: list[str], sheet: Any = sheet) -> None:
                if header:
                    sheet.append(columns)

            cells = row_cells(read_ion(source), write_header)
            for number, (_row, _columns, values) in enumerate(cells, start=1):
                try:
                    sheet.append([_cell(v, formats, zone, styles) for v in values])
                except ValueError as exc:  # openpyxl refuses control characters
                    raise TaskFailed(f"sheet {title!r}, row {number}: {exc}") from exc
                size += 1
                stop_point(ctx, size)
        workbook.save(str(target))
        ctx.logger.debug(f"Wrote {size} rows to {len(sources)} sheet(s)")
        return {"uri": store(ctx, target), "size": size}


def _cell(value: Any, formats: TextFormats, zone: dt.tzinfo, styles: bool) -> Any:
    """A value as an Excel cell can hold it (Excel has no time zones nor lists)."""
    if value is None or isinstance(value, bool | int | float | Decimal):
        return value
    if isinstance(value, str):
        if len(value) > MAX_CELL_TEXT:
            raise ValueError(f"text longer than Excel's {MAX_CELL_TEXT} characters")
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        if not styles:
            return formats.text(value)
        if isinstance(value, dt.datetime) and value.tzinfo:
            return value.astimezone(zone).replace(tzinfo=None)
        if isinstance(value, dt.time) and value.tzinfo:
            return value.replace(tzinfo=None)
        return value
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return json.dumps(json_safe(value, zone), ensure_ascii=False)


class ExcelToIon(SerdesTask):
    """Read the sheets of an xlsx workbook into one Ion file each; outputs ``uris`` (sheet
    title -> URI) and ``size`` (rows read)."""

    type = "trellis.serdes.excel.ExcelToIon"
    aliases = ("io.kestra.plugin.serdes.excel.ExcelToIon",)
    requires = ("amazon.ion", "openpyxl")
    properties: ClassVar = (
        FROM,
        Prop("sheetsTitle", "list", items="string",
             description="Titles of the sheets to read (default: all)."),
        Prop("header", "boolean", default=True, description="The first row names the fields."),
        Prop("skipRows", "integer", default=0, description="Rows skipped before the header."),
        Prop("skipEmptyRows", "boolean", default=False),
        Prop("valueRender", "string", default="UNFORMATTED_VALUE", choices=VALUE_RENDERS),
        Prop("dateTimeRender", "string", default="UNFORMATTED_VALUE", choices=DATE_TIME_RENDERS),
        CHARSET,
    )  # fmt: skip
    examples = (_EXAMPLE,)

    outputs: ClassVar = (
        Output("uris", "One Ion file per sheet, sheet name -> URI.", "map"),
        Output("size", "Rows read.", "integer"),
    )

    @classmethod
    def validate_props(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        skip = props.get("skipRows")
        if isinstance(skip, int) and skip < 0:
            return [("skipRows", "skipRows must be 0 or more")]
        return []

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        # optional dependency (extra "serdes"): imported when the task runs
        from openpyxl import load_workbook
        from openpyxl.utils.exceptions import InvalidFileException

        source = source_path(ctx, props.get("from"))
        render = str(props.get("valueRender") or "UNFORMATTED_VALUE").upper()
        try:
            workbook = load_workbook(str(source), read_only=True, data_only=render != "FORMULA")
        except (InvalidFileException, OSError, KeyError, ValueError) as exc:
            raise TaskFailed(f"not a readable xlsx workbook: {exc}") from exc
        try:
            wanted = [str(t) for t in props.get("sheetsTitle") or workbook.sheetnames]
            unknown = [t for t in wanted if t not in workbook.sheetnames]
            if unknown:
                raise TaskFailed(f"no sheet {unknown} in the workbook ({workbook.sheetnames})")
            uris: dict[str, str] = {}
            size = 0
            for title in wanted:
                target = target_path(ctx, source, f"-{_file_part(title)}.ion")
                count = self._sheet(workbook[title], props, ctx, target)
                size += count
                uris[title] = store(ctx, target)
        finally:
            workbook.close()
        return {"uris": uris, "size": size}

    def _sheet(self, sheet: Any, props: Mapping[str, Any], ctx: RunContext, target: Any) -> int:
        header = props.get("header") is not False
        skip = max(0, int(props.get("skipRows") or 0))
        skip_empty = props.get("skipEmptyRows") is True
        value_render = str(props.get("valueRender") or "UNFORMATTED_VALUE").upper()
        date_render = str(props.get("dateTimeRender") or "UNFORMATTED_VALUE").upper()
        names: list[str] | None = None
        with ion_output(target) as out:
            for index, cells in enumerate(sheet.iter_rows()):
                if index < skip:
                    continue
                values = [_value(c, value_render, date_render) for c in cells]
                while values and values[-1] is None:
                    values.pop()
                if not values and (skip_empty or names is None and header):
                    continue
                if not header:
                    out.write(values)
                    continue
                if names is None:
                    names = [f"col_{i}" if v is None else str(v) for i, v in enumerate(values)]
                    continue
                values += [None] * (len(names) - len(values))
                out.write(dict(zip(names, values[: len(names)], strict=True)))
                stop_point(ctx, out.count)
        return out.count


def _file_part(title: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in title)[:40] or "sheet"


def _value(cell: Any, value_render: str, date_render: str) -> Any:
    value = getattr(cell, "value", None)
    if isinstance(value, dt.datetime):
        number_format = str(getattr(cell, "number_format", "") or "").lower()
        if value.time() == dt.time() and not any(t in number_format for t in ("h", "s")):
            value = value.date()
        if date_render == "SERIAL_NUMBER":
            # optional dependency (extra "serdes"): imported when the task runs
            from openpyxl.utils.datetime import to_excel

            return to_excel(value)
        if date_render == "FORMATTED_STRING" or value_render == "FORMATTED_VALUE":
            return value.isoformat()
        return value
    if value_render == "FORMATTED_VALUE" and value is not None and not isinstance(value, str):
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        return str(value)
    return value


PLUGINS = [IonToExcel, ExcelToIon]

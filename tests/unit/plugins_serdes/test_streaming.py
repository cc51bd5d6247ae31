"""Conversions stream: the peak of Python allocations (tracemalloc) while converting stays
a small amount that does not grow with the number of rows.

Tracing multiplies the run time by about four, so the 200,000-row file goes through
CsvToIon (every flow's first step, and the writer every conversion shares) against a fixed
bound; every conversion of the chain is then run on 2,000 and on 8,000 rows (Parquet
batches cut to 500 rows) and its peak must not grow with the rows.
"""

from __future__ import annotations

import sys
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

from plugins.serdes.avro_tasks import AvroToIon, IonToAvro
from plugins.serdes.csv_tasks import CsvToIon, IonToCsv
from plugins.serdes.excel_tasks import ExcelToIon, IonToExcel
from plugins.serdes.json_tasks import IonToJson, JsonToIon
from plugins.serdes.parquet_tasks import IonToParquet, ParquetToIon
from tests.unit.plugins_serdes.conftest import Files

pytest.importorskip("amazon.ion")
pytest.importorskip("fastavro")
pytest.importorskip("pyarrow")
pytest.importorskip("openpyxl")

SCHEMA = """{"type": "record", "name": "Row", "fields": [
  {"name": "id", "type": "long"}, {"name": "name", "type": "string"},
  {"name": "price", "type": "double"}, {"name": "day", "type": "string"}]}"""


def csv_text(rows: int) -> str:
    lines = ["id,name,price,day"]
    lines += [f"{i},name number {i},{i % 1000}.25,2024-01-{1 + i % 28:02d}" for i in range(rows)]
    return "\n".join(lines) + "\n"


def traced(run: Callable[[], dict[str, Any]]) -> tuple[str, int]:
    """The task's output URI and the peak of Python allocations while it ran."""
    tracemalloc.start()
    try:
        uri = run()["uri"]
        return uri, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def in_memory_size(rows: int) -> int:
    """What the rows would take as a list of dicts of text (a lower bound)."""
    row = {"id": "123456", "name": "name number 123456", "price": "456.25", "day": "2024-01-07"}
    per_row = sys.getsizeof(row) + sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in row.items())
    return rows * per_row


def test_two_hundred_thousand_csv_rows_go_to_ion_in_bounded_memory(ctx, files) -> None:
    rows = 200_000
    source = files.put(csv_text(rows), "big.csv")
    bound = 4 * 1024 * 1024  # the rows held in memory would take about 100 MB

    ion_uri, peak = traced(lambda: CsvToIon().run({"from": source}, ctx))

    assert in_memory_size(rows) > 20 * bound
    assert peak < bound
    with files.path(ion_uri).open() as stream:
        assert sum(1 for _ in stream) == rows


def chain(files: Files, ctx: Any, rows: int) -> tuple[dict[str, int], str, str]:
    """Every conversion in turn from a CSV file of ``rows`` rows back to CSV: the peak of
    each, the input text and the final file's text."""
    text = csv_text(rows)
    uris = {"csv": files.put(text, f"rows{rows}.csv")}
    steps = [
        ("CsvToIon", lambda: CsvToIon().run({"from": uris["csv"]}, ctx)),
        ("IonToJson", lambda: IonToJson().run({"from": uris["CsvToIon"]}, ctx)),
        ("JsonToIon", lambda: JsonToIon().run({"from": uris["IonToJson"]}, ctx)),
        ("IonToAvro", lambda: IonToAvro().run({"from": uris["JsonToIon"], "schema": SCHEMA}, ctx)),
        ("AvroToIon", lambda: AvroToIon().run({"from": uris["IonToAvro"]}, ctx)),
        ("IonToParquet", lambda: IonToParquet().run({"from": uris["AvroToIon"]}, ctx)),
        ("ParquetToIon", lambda: ParquetToIon().run({"from": uris["IonToParquet"]}, ctx)),
        ("IonToExcel", lambda: IonToExcel().run({"from": uris["ParquetToIon"]}, ctx)),
        ("ExcelToIon", lambda: _first_sheet(ExcelToIon().run({"from": uris["IonToExcel"]}, ctx))),
        ("IonToCsv", lambda: IonToCsv().run({"from": uris["ExcelToIon"]}, ctx)),
    ]
    peaks = {}
    for name, step in steps:
        uris[name], peaks[name] = traced(step)
    return peaks, text, files.path(uris["IonToCsv"]).read_text()


def test_no_conversion_grows_with_the_rows(ctx, files, monkeypatch) -> None:
    monkeypatch.setattr("plugins.serdes.parquet_tasks.BATCH_ROWS", 500)
    chain(files, ctx, 2_000)  # warm up: imports and caches are allocated once

    small, _, _ = chain(files, ctx, 2_000)
    large, text, back = chain(files, ctx, 8_000)

    assert back == text
    grown = {
        name: (small[name], large[name])
        for name in small
        if large[name] > 1.5 * small[name] + 64 * 1024
    }
    # Excel keeps its shared-strings table (every distinct text) in memory: the format's way.
    assert set(grown) <= {"IonToExcel", "ExcelToIon"}, grown


def _first_sheet(outputs: dict[str, Any]) -> dict[str, Any]:
    return {"uri": next(iter(outputs["uris"].values()))}

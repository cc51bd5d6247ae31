"""Avro, Parquet and Excel <-> Ion: schemas given or inferred, text fitted to types,
bad lines, sheets."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from kernel.plugin import TaskFailed
from plugins.serdes.avro_tasks import AvroToIon, IonToAvro
from plugins.serdes.excel_tasks import ExcelToIon, IonToExcel
from plugins.serdes.parquet_tasks import IonToParquet, ParquetToIon

pytest.importorskip("amazon.ion")
fastavro = pytest.importorskip("fastavro")
pq = pytest.importorskip("pyarrow.parquet")
openpyxl = pytest.importorskip("openpyxl")

SCHEMA = json.dumps(
    {
        "type": "record",
        "name": "Sale",
        "fields": [
            {"name": "id", "type": "long"},
            {"name": "ok", "type": "boolean"},
            {"name": "price", "type": ["null", "double"]},
            {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal",
                                        "precision": 10, "scale": 2}},
            {"name": "day", "type": {"type": "int", "logicalType": "date"}},
            {"name": "at", "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}]},
            {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}},
            {"name": "note", "type": ["null", "string"]},
        ],
    }
)  # fmt: skip

TEXT_ROWS = [
    {"id": "1", "ok": "yes", "price": "1,5", "amount": "3,10", "day": "2024-01-02",
     "at": "2024-01-02T03:04:05Z", "kind": "A", "note": "hello"},
    {"id": "2", "ok": "0", "price": "", "amount": "7", "day": "2024-02-03",
     "at": "", "kind": "B", "note": "null"},
]  # fmt: skip

TYPED_ROWS = [
    {"id": 1, "ok": True, "price": 1.5, "amount": Decimal("3.10"), "day": dt.date(2024, 1, 2),
     "at": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "kind": "A", "note": "hello"},
    {"id": 2, "ok": False, "price": None, "amount": Decimal("7.00"),
     "day": dt.date(2024, 2, 3), "at": None, "kind": "B", "note": None},
]  # fmt: skip


def test_ion_to_avro_fits_text_to_the_schema_and_back(ctx, files) -> None:
    source = files.put_rows(TEXT_ROWS)

    avro_uri = IonToAvro().run({"from": source, "schema": SCHEMA, "decimalSeparator": ","}, ctx)

    with files.path(avro_uri["uri"]).open("rb") as stream:
        assert fastavro.reader(stream).writer_schema["name"] == "Sale"
    back = AvroToIon().run({"from": avro_uri["uri"]}, ctx)["uri"]
    assert files.rows(back) == TYPED_ROWS


def test_ion_to_avro_infers_a_schema(ctx, files) -> None:
    rows = [
        {"n": 1, "x": 1, "s": "a", "t": dt.datetime(2024, 1, 2, tzinfo=dt.UTC), "d": None},
        {"n": 2, "x": 2.5, "s": None, "t": None, "d": Decimal("1.25")},
    ]

    uri = IonToAvro().run({"from": files.put_rows(rows)}, ctx)["uri"]

    with files.path(uri).open("rb") as stream:
        reader = fastavro.reader(stream)
        types = {f["name"]: f["type"] for f in reader.writer_schema["fields"]}
        read = list(reader)
    assert types["n"] == ["null", "long"]
    assert types["x"] == ["null", "double"]
    assert types["s"] == ["null", "string"]
    assert read[1]["x"] == 2.5
    assert read[1]["d"] == Decimal("1.25")
    assert read[0]["t"] == dt.datetime(2024, 1, 2, tzinfo=dt.UTC)


@pytest.mark.parametrize("mode", ["WARN", "SKIP"])
def test_avro_bad_lines_are_skipped_when_asked(ctx, files, mode) -> None:
    rows = [*TEXT_ROWS, {**TEXT_ROWS[0], "id": "not a number"}]

    uri = IonToAvro().run(
        {"from": files.put_rows(rows), "schema": SCHEMA, "decimalSeparator": ",",
         "onBadLines": mode},
        ctx,
    )["uri"]  # fmt: skip

    assert len(files.rows(AvroToIon().run({"from": uri}, ctx)["uri"])) == 2
    warned = [m for m in ctx.logger.lines("WARNING") if "row 3: field 'id'" in m]
    assert bool(warned) == (mode == "WARN")


def test_avro_bad_line_fails_by_default_and_strict_schema_refuses_extra_fields(ctx, files) -> None:
    bad = files.put_rows([{**TEXT_ROWS[0], "ok": "maybe"}])
    with pytest.raises(TaskFailed, match="row 1: field 'ok': 'maybe' is not a boolean"):
        IonToAvro().run({"from": bad, "schema": SCHEMA, "decimalSeparator": ","}, ctx)

    extra = files.put_rows([{**TEXT_ROWS[0], "other": 1}])
    props = {"from": extra, "schema": SCHEMA, "decimalSeparator": ",", "strictSchema": True}
    with pytest.raises(TaskFailed, match="'other'.*strictSchema"):
        IonToAvro().run(props, ctx)


def test_a_bad_schema_is_refused_at_validation() -> None:
    assert IonToAvro.validate({"from": "x", "schema": "{not json"})[0][0] == "schema"
    assert IonToAvro.validate({"from": "x", "schema": '{"type": "record", "name": "R"}'})
    assert IonToAvro.validate({"from": "x", "schema": SCHEMA}) == []
    assert IonToAvro.validate({"from": "x", "schema": "{{ vars.schema }}"}) == []


def test_parquet_round_trip_with_a_schema(ctx, files) -> None:
    uri = IonToParquet().run(
        {"from": files.put_rows(TEXT_ROWS), "schema": SCHEMA, "decimalSeparator": ",",
         "compressionCodec": "SNAPPY"},
        ctx,
    )["uri"]  # fmt: skip

    parquet = pq.ParquetFile(str(files.path(uri)))
    assert str(parquet.schema_arrow.field("amount").type) == "decimal128(10, 2)"
    assert parquet.metadata.row_group(0).column(0).compression == "SNAPPY"
    back = ParquetToIon().run({"from": uri}, ctx)["uri"]
    assert files.rows(back) == TYPED_ROWS


def test_parquet_infers_a_schema_and_writes_row_groups(ctx, files, monkeypatch) -> None:
    monkeypatch.setattr("plugins.serdes.parquet_tasks.BATCH_ROWS", 3)
    rows = [{"i": i, "name": f"n{i}", "tags": ["a"] if i % 2 else None} for i in range(7)]

    uri = IonToParquet().run({"from": files.put_rows(rows)}, ctx)["uri"]

    parquet = pq.ParquetFile(str(files.path(uri)))
    assert parquet.metadata.num_row_groups == 3
    assert parquet.metadata.row_group(0).column(0).compression == "GZIP"
    back = files.rows(ParquetToIon().run({"from": uri}, ctx)["uri"])
    assert back[1] == {"i": 1, "name": "n1", "tags": '["a"]'}
    assert [r["i"] for r in back] == list(range(7))


def test_excel_round_trip_of_several_sheets(ctx, files) -> None:
    people = files.put_rows(
        [
            {"name": "Ada", "born": dt.date(1815, 12, 10), "score": 9.5, "n": 3},
            {"name": "Grace", "born": None, "score": None, "n": 4},
        ]
    )
    events = files.put_rows([{"at": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)}])

    written = IonToExcel().run({"from": {"People": people, "Events": events}}, ctx)

    assert written["size"] == 3
    workbook = openpyxl.load_workbook(str(files.path(written["uri"])))
    assert workbook.sheetnames == ["People", "Events"]
    read = ExcelToIon().run({"from": written["uri"]}, ctx)
    assert read["size"] == 3
    assert set(read["uris"]) == {"People", "Events"}
    assert files.rows(read["uris"]["People"]) == [
        {"name": "Ada", "born": dt.date(1815, 12, 10), "score": 9.5, "n": 3},
        {"name": "Grace", "born": None, "score": None, "n": 4},
    ]
    assert files.rows(read["uris"]["Events"]) == [{"at": dt.datetime(2024, 1, 2, 3, 4, 5)}]


def test_excel_to_ion_options(ctx, files) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Data"
    for row in (["report"], [], ["a", "b"], [1, "=A4+1"], [], [2, 3]):
        sheet.append(row)
    workbook.create_sheet("Other").append(["x"])
    local = ctx.working_dir / "book.xlsx"
    workbook.save(local)
    source = ctx.put_file(local, "book.xlsx")

    read = ExcelToIon().run(
        {"from": source, "sheetsTitle": ["Data"], "skipRows": 2, "skipEmptyRows": True,
         "valueRender": "FORMULA"},
        ctx,
    )  # fmt: skip

    assert list(read["uris"]) == ["Data"]
    assert files.rows(read["uris"]["Data"]) == [{"a": 1, "b": "=A4+1"}, {"a": 2, "b": 3}]
    with pytest.raises(TaskFailed, match="no sheet"):
        ExcelToIon().run({"from": source, "sheetsTitle": ["Nope"]}, ctx)


def test_ion_to_excel_one_file_takes_the_sheets_title(ctx, files) -> None:
    uri = files.put_rows([["a", 1]])

    written = IonToExcel().run({"from": uri, "sheetsTitle": "Rows", "header": False}, ctx)

    back = ExcelToIon().run({"from": written["uri"], "header": False}, ctx)
    assert files.rows(back["uris"]["Rows"]) == [["a", 1]]


def test_infer_avro_schema_from_ion_feeds_ion_to_avro(ctx, files) -> None:
    from plugins.serdes.avro_tasks import InferAvroSchemaFromIon

    source = files.put_rows([{"id": 1, "name": "a"}, {"id": 2, "name": None}, {"id": "x"}])

    uri = InferAvroSchemaFromIon().run({"from": source, "numberOfRowsToScan": 2}, ctx)["uri"]

    schema = json.loads(files.text(uri))
    assert schema["fields"] == [
        {"name": "id", "type": ["null", "long"], "default": None},
        {"name": "name", "type": ["null", "string"], "default": None},
    ]
    avro = IonToAvro().run({"from": source, "schema": files.text(uri), "onBadLines": "SKIP"}, ctx)
    assert len(files.rows(AvroToIon().run({"from": avro["uri"]}, ctx)["uri"])) == 2

"""CSV and JSON lines <-> Ion, and Java date patterns."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from kernel.plugin import TaskFailed
from plugins.serdes.csv_tasks import CsvToIon, IonToCsv
from plugins.serdes.dates import JavaDateFormat
from plugins.serdes.json_tasks import IonToJson, JsonToIon

pytest.importorskip("amazon.ion")

CSV = 'id,name,note\n1,"Lovelace, Ada","said ""hi"""\n2,Hopper,\n3,"multi\nline",x\n'


def test_csv_to_ion_keeps_text_and_back_gives_the_same_file(ctx, files) -> None:
    source = files.put(CSV, "people.csv")

    ion_uri = CsvToIon().run({"from": source}, ctx)["uri"]

    assert files.rows(ion_uri) == [
        {"id": "1", "name": "Lovelace, Ada", "note": 'said "hi"'},
        {"id": "2", "name": "Hopper", "note": ""},
        {"id": "3", "name": "multi\nline", "note": "x"},
    ]
    csv_uri = IonToCsv().run({"from": ion_uri}, ctx)["uri"]
    assert files.text(csv_uri) == CSV
    assert ion_uri.endswith(".ion")
    assert csv_uri.endswith(".csv")


def test_csv_options_separator_quote_skip_rows_charset_and_bom(ctx, files) -> None:
    data = "\ufeffjunk line\nid;name\n1;'a;b'\n\n2;é\n".encode("utf-8")
    source = files.put(data, "semi.csv")

    rows = files.rows(
        CsvToIon().run(
            {"from": source, "fieldSeparator": ";", "textDelimiter": "'", "skipRows": 1,
             "skipEmptyRows": True},
            ctx,
        )["uri"]
    )  # fmt: skip

    assert rows == [{"id": "1", "name": "a;b"}, {"id": "2", "name": "é"}]
    latin = files.put("a,b\né,è\n".encode("latin-1"), "latin.csv")
    out = CsvToIon().run({"from": latin, "charset": "ISO-8859-1"}, ctx)["uri"]
    assert files.rows(out) == [{"a": "é", "b": "è"}]


def test_csv_without_header_gives_lists(ctx, files) -> None:
    source = files.put("1,2\n3,4\n", "plain.csv")

    rows = files.rows(CsvToIon().run({"from": source, "header": False}, ctx)["uri"])

    assert rows == [["1", "2"], ["3", "4"]]
    back = IonToCsv().run({"from": files.put_rows(rows), "header": False}, ctx)["uri"]
    assert files.text(back) == "1,2\n3,4\n"


@pytest.mark.parametrize(("mode", "kept"), [("WARN", 2), ("SKIP", 2)])
def test_csv_bad_lines_are_skipped_when_asked(ctx, files, mode, kept) -> None:
    source = files.put("a,b\n1,2\n3\n4,5\n", "ragged.csv")

    uri = CsvToIon().run({"from": source, "onBadLines": mode}, ctx)["uri"]

    assert len(files.rows(uri)) == kept
    warned = [m for m in ctx.logger.lines("WARNING") if "line 3" in m]
    assert bool(warned) == (mode == "WARN")


def test_csv_bad_line_fails_by_default(ctx, files) -> None:
    source = files.put("a,b\n1,2\n3\n", "ragged.csv")

    with pytest.raises(TaskFailed, match="line 3: 1 fields where the header has 2"):
        CsvToIon().run({"from": source}, ctx)


def test_ion_to_csv_renders_types_with_the_formats(ctx, files) -> None:
    rows = [
        {
            "when": dt.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC),
            "naive": dt.datetime(2024, 1, 2, 3, 4, 5),
            "day": dt.date(2024, 1, 2),
            "flag": True,
            "n": None,
            "dec": Decimal("1.50"),
            "f": 0.1,
            "nested": {"a": [1, 2]},
        }
    ]
    uri = IonToCsv().run(
        {"from": files.put_rows(rows), "fieldSeparator": "|", "alwaysDelimitText": True,
         "lineDelimiter": "\r\n", "dateFormat": "dd/MM/yyyy",
         "timeZoneId": "Europe/Paris"},
        ctx,
    )["uri"]  # fmt: skip

    header, line = files.text(uri).split("\r\n")[:2]
    assert header == '"when"|"naive"|"day"|"flag"|"n"|"dec"|"f"|"nested"'
    assert line == (
        '"2024-01-02T03:04:05.678Z"|"2024-01-02T03:04:05.000+01:00"|"02/01/2024"|"true"|""|'
        '"1.50"|"0.1"|"{""a"": [1, 2]}"'
    )


def test_ion_to_csv_keeps_the_first_rows_columns(ctx, files) -> None:
    uri = files.put_rows([{"a": 1, "b": 2}, {"b": 3, "c": 4}])

    out = IonToCsv().run({"from": uri}, ctx)["uri"]

    assert files.text(out) == "a,b\n1,2\n,3\n"
    assert any("['c']" in m for m in ctx.logger.lines("WARNING"))


def test_json_lines_round_trip(ctx, files) -> None:
    text = '{"id": 1, "price": 2.5, "tags": ["a"], "meta": {"ok": true}, "none": null}\n\n[1, 2]\n'
    source = files.put(text, "data.jsonl")

    ion_uri = JsonToIon().run({"from": source}, ctx)["uri"]

    assert files.rows(ion_uri) == [
        {"id": 1, "price": 2.5, "tags": ["a"], "meta": {"ok": True}, "none": None},
        [1, 2],
    ]
    back = IonToJson().run({"from": ion_uri}, ctx)["uri"]
    assert files.text(back) == text.replace("\n\n", "\n")


def test_json_document_mode_reads_and_writes_an_array(ctx, files) -> None:
    source = files.put('[{"a": 1}, {"a": 2}]', "array.json")

    ion_uri = JsonToIon().run({"from": source, "newLine": False}, ctx)["uri"]
    out = IonToJson().run({"from": ion_uri, "newLine": False}, ctx)["uri"]

    assert files.rows(ion_uri) == [{"a": 1}, {"a": 2}]
    assert files.text(out) == '[{"a": 1},{"a": 2}]'
    assert out.endswith(".json")


def test_json_lines_error_names_the_line(ctx, files) -> None:
    source = files.put('{"a": 1}\n[{"a": 1},\n', "bad.jsonl")

    with pytest.raises(TaskFailed, match="line 2 is not JSON"):
        JsonToIon().run({"from": source}, ctx)


def test_ion_to_json_writes_timestamps_decimals_and_blobs_as_text(ctx, files) -> None:
    rows = [
        {
            "t": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
            "naive": dt.datetime(2024, 1, 2, 3, 4, 5),
            "d": dt.date(2024, 1, 2),
            "dec": Decimal("2.50"),
            "b": b"hi",
        }
    ]

    out = IonToJson().run({"from": files.put_rows(rows), "timeZoneId": "Europe/Paris"}, ctx)

    assert files.text(out["uri"]) == (
        '{"t": "2024-01-02T03:04:05Z", "naive": "2024-01-02T03:04:05+01:00", '
        '"d": "2024-01-02", "dec": 2.5, "b": "aGk="}\n'
    )


def test_from_must_be_an_internal_storage_uri(ctx) -> None:
    with pytest.raises(TaskFailed, match="internal storage URI"):
        CsvToIon().run({"from": "/etc/passwd"}, ctx)


def test_java_date_patterns_format_and_parse() -> None:
    pattern = JavaDateFormat("yyyy-MM-dd'T'HH:mm[:ss][.SSS][XXX]")
    moment = dt.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)

    assert pattern.format(moment) == "2024-01-02T03:04:05.678Z"
    assert pattern.format(moment.replace(tzinfo=None)) == "2024-01-02T03:04:05.678"
    assert pattern.parse("2024-01-02T03:04") == dt.datetime(2024, 1, 2, 3, 4)
    assert pattern.parse("2024-01-02T03:04:05.6+02:00") == dt.datetime(
        2024, 1, 2, 3, 4, 5, 600000, tzinfo=dt.timezone(dt.timedelta(hours=2))
    )
    assert JavaDateFormat("dd MMM yyyy").parse("02 Jan 2024") == dt.date(2024, 1, 2)
    assert JavaDateFormat("hh:mm a").format(dt.time(15, 7)) == "03:07 PM"
    with pytest.raises(ValueError, match="letter 'Q'"):
        JavaDateFormat("yyyy-QQ")


def test_csv_fields_longer_than_max_field_size_fail(ctx, files) -> None:
    source = files.put("a\n" + "x" * 200_000 + "\n", "wide.csv")

    rows = files.rows(CsvToIon().run({"from": source}, ctx)["uri"])
    assert len(rows[0]["a"]) == 200_000
    with pytest.raises(TaskFailed, match="field larger than field limit"):
        CsvToIon().run({"from": source, "maxFieldSize": 1000}, ctx)


def test_a_file_that_is_not_ion_fails_the_task(ctx, files) -> None:
    source = files.put('{a:1}\n{a:"unclosed\n', "bad.ion")

    with pytest.raises(TaskFailed, match="not valid Ion after 1 rows"):
        IonToCsv().run({"from": source}, ctx)


def test_unnamed_header_columns_are_dropped_or_renamed(ctx, files) -> None:
    source = files.put("a,,b,\n1,2,3,4\n", "unnamed.csv")

    dropped = files.rows(CsvToIon().run({"from": source}, ctx)["uri"])
    renamed = files.rows(CsvToIon().run({"from": source, "onEmptyHeader": "RENAME"}, ctx)["uri"])

    assert dropped == [{"a": "1", "": "2", "b": "3"}]
    assert renamed == [{"a": "1", "col_1": "2", "b": "3", "col_3": "4"}]

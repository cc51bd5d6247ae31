"""The Ion row codec: every Ion type to plain Python and back, one value a line, lazily."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest

from kernel import ion

pytest.importorskip("amazon.ion")

UTC = dt.UTC


def rows(text: str) -> list:
    return list(ion.read_rows(io.BytesIO(text.encode())))


def test_reads_a_sql_store_line() -> None:
    assert rows('{id:1,name:"a",created:2024-01-02T03:04:05Z}\n') == [
        {"id": 1, "name": "a", "created": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)}
    ]


def test_every_type_reads_as_plain_python() -> None:
    (row,) = rows(
        "$ion_1_0 {n:null, tn:null.int, b:true, i:-12, big:123456789012345678901234567890,"
        ' f:1.5e0, d:1.50, s:"é\\n", sym:abc, t:2024-01-02T03:04:05.120+01:00,'
        ' local:2024-01-02T03:04:05-00:00, day:2024-01-02T, blob:{{aGk=}}, clob:{{"hi"}},'
        ' l:[1, "x", null], sx:(a b), st:{inner:{deep:[true]}}}'
    )

    assert row == {
        "n": None,
        "tn": None,
        "b": True,
        "i": -12,
        "big": 123456789012345678901234567890,
        "f": 1.5,
        "d": Decimal("1.50"),
        "s": "é\n",
        "sym": "abc",
        "t": dt.datetime(2024, 1, 2, 3, 4, 5, 120000, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        "local": dt.datetime(2024, 1, 2, 3, 4, 5),
        "day": dt.date(2024, 1, 2),
        "blob": b"hi",
        "clob": b"hi",
        "l": [1, "x", None],
        "sx": ["a", "b"],
        "st": {"inner": {"deep": [True]}},
    }
    assert type(row["b"]) is bool
    assert type(row["i"]) is int
    assert type(row["s"]) is str
    assert type(row["t"]) is dt.datetime


def test_writes_one_value_a_line_without_the_version_marker() -> None:
    out = io.StringIO()
    count = ion.write_rows(
        out,
        [
            {"id": 1, "name": "a", "created": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)},
            {"x": None, "day": dt.date(2024, 1, 2), "d": Decimal("1.50"), "f": 2.0},
            [b"hi", True, dt.time(3, 4, 5)],
        ],
    )

    assert count == 3
    assert out.getvalue() == (
        '{id:1,name:"a",created:2024-01-02T03:04:05Z}\n'
        "{x:null,day:2024-01-02,d:1.50,f:2e+0}\n"
        '[{{aGk=}},true,"03:04:05"]\n'
    )


def test_round_trip_keeps_values() -> None:
    values = [
        {
            "none": None,
            "bool": False,
            "int": 2**70,
            "float": -0.25,
            "nan": float("inf"),
            "decimal": Decimal("-3.1400"),
            "text": 'quote " and \\ and \u2603',
            "aware": dt.datetime(2024, 6, 1, 12, 0, 0, 123456, tzinfo=UTC),
            "naive": dt.datetime(2024, 6, 1, 12, 0, 0, 500000),
            "date": dt.date(1999, 12, 31),
            "blob": bytes(range(256)),
            "list": [[1], {"a": [None]}],
        }
    ]
    out = io.StringIO()
    ion.write_rows(out, values)

    assert rows(out.getvalue()) == values


def test_reading_is_lazy() -> None:
    """The first row is there before the stream's end is read (the reader is a generator)."""
    stream = io.BytesIO(b"{a:1}\n" + b"{a:2}\n" * 1000 + b"{broken:")

    reader = ion.read_rows(stream)

    assert next(reader) == {"a": 1}


def test_reads_binary_ion_and_values_spread_over_lines() -> None:
    from amazon.ion import simpleion

    binary = simpleion.dumps({"a": 1}, binary=True) + simpleion.dumps({"a": 2}, binary=True)

    assert list(ion.read_rows(io.BytesIO(binary))) == [{"a": 1}, {"a": 2}]
    assert rows("{a:1} {a:2}\n{\n  b: [\n 1,\n 2]\n}\n") == [{"a": 1}, {"a": 2}, {"b": [1, 2]}]


def test_reads_a_text_stream() -> None:
    assert list(ion.read_rows(io.StringIO('{b:"é"}\n'))) == [{"b": "é"}]


def test_long_text_values_are_read() -> None:
    """The C reader's text buffer is sized to the stream (its 4 KiB default refuses more)."""
    long = "x" * 300_000

    assert rows(f'{{a:"{long}", b:{{{{{"eHh4" * 50_000}}}}}}}\n') == [
        {"a": long, "b": b"xxx" * 50_000}
    ]

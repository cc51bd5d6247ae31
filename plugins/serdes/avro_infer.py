"""An Avro schema inferred from rows, for IonToAvro and IonToParquet when no ``schema`` is
given (Kestra scans ``numberOfRowsToScan`` rows the same way)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any


def _kind(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "long"
    if isinstance(value, float):
        return "double"
    if isinstance(value, Decimal):
        return ("decimal", max(0, -int(value.as_tuple().exponent)))
    if isinstance(value, dt.datetime):
        return "timestamp" if value.tzinfo else "local-timestamp"
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, bytes):
        return "bytes"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "map"
    return "string"


def _merge(a: Any, b: Any) -> Any:
    if a is None or a == b:
        return b
    if b is None:
        return a
    if {a, b} == {"long", "double"}:
        return "double"
    if isinstance(a, tuple) and isinstance(b, tuple):
        return ("decimal", max(a[1], b[1]))
    return "string"


def _avro_type(kind: Any) -> Any:
    if kind is None or kind in ("string", "list", "map"):
        return "string"
    if isinstance(kind, tuple):
        return {"type": "bytes", "logicalType": "decimal", "precision": 38, "scale": kind[1]}
    if kind == "timestamp":
        return {"type": "long", "logicalType": "timestamp-micros"}
    if kind == "local-timestamp":
        return {"type": "long", "logicalType": "local-timestamp-micros"}
    if kind == "date":
        return {"type": "int", "logicalType": "date"}
    return kind


def infer_schema(rows: Iterable[Any], name: str = "Row") -> dict[str, Any]:
    """A record schema for rows like these: every field nullable, numbers widened to double
    when both kinds appear, and anything else that disagrees (or nests) kept as text."""
    kinds: dict[str, Any] = {}
    for row in rows:
        if not isinstance(row, dict):
            raise ValueError("rows must be structs to infer a schema")
        for key, value in row.items():
            kinds[key] = _merge(kinds.get(key), _kind(value))
    fields = [
        {"name": key, "type": ["null", _avro_type(kind)], "default": None}
        for key, kind in kinds.items()
    ]
    return {"type": "record", "name": name, "fields": fields}

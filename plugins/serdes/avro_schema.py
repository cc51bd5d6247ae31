"""Avro schemas for IonToAvro and IonToParquet (Kestra gives both an Avro ``schema``): read
one, infer one from the first rows, and fit each row to it.

Rows coming from CSV carry every value as text, so fitting converts as Kestra does: numbers
and booleans from text (``trueValues``, ``falseValues``, ``decimalSeparator``), ``nullValues``
to null where the field admits null, dates and timestamps from text with ``dateFormat``,
``datetimeFormat`` and ``timeFormat`` (Java patterns; ISO 8601 is always accepted too).
A value that does not fit raises :class:`Misfit`, which the task turns into ``onBadLines``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from plugins.serdes.dates import JavaDateFormat

TRUE_VALUES = ("t", "true", "enabled", "1", "on", "yes")
FALSE_VALUES = ("f", "false", "disabled", "0", "off", "no", "")
NULL_VALUES = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "1.#IND", "1.#QNAN",
    "NA", "n/a", "nan", "null",
)  # fmt: skip

Fit = Callable[[Any], Any]


class Misfit(ValueError):
    """A value that the schema cannot hold."""


def parse_schema(text: Any) -> dict[str, Any]:
    """A record schema from its JSON text (or an already-parsed mapping)."""
    schema = json.loads(text) if isinstance(text, str) else text
    if not isinstance(schema, dict) or schema.get("type") != "record":
        raise ValueError("the schema must be an Avro record schema (a JSON object)")
    if not isinstance(schema.get("fields"), list):
        raise ValueError("the schema's record has no fields list")
    return schema


class Options:
    """The text-to-value settings shared by IonToAvro and IonToParquet."""

    def __init__(self, props: Mapping[str, Any], zone: dt.tzinfo) -> None:
        self.zone = zone
        self.true_values = {str(v).lower() for v in props.get("trueValues") or TRUE_VALUES}
        self.false_values = {str(v).lower() for v in props.get("falseValues") or FALSE_VALUES}
        nulls = props.get("nullValues")
        self.null_values = {str(v) for v in (NULL_VALUES if nulls is None else nulls)}
        self.decimal_separator = str(props.get("decimalSeparator") or ".")
        self.date = JavaDateFormat(str(props.get("dateFormat") or "yyyy-MM-dd[XXX]"))
        self.datetime = JavaDateFormat(
            str(props.get("datetimeFormat") or "yyyy-MM-dd'T'HH:mm[:ss][.SSSSSS][XXX]")
        )
        self.time = JavaDateFormat(str(props.get("timeFormat") or "HH:mm[:ss][.SSSSSS][XXX]"))
        self.strict = props.get("strictSchema") is True

    def number_text(self, value: str) -> str:
        text = value.strip()
        return text.replace(self.decimal_separator, ".") if self.decimal_separator != "." else text

    def parse_moment(self, value: str, pattern: JavaDateFormat) -> Any:
        try:
            return pattern.parse(value)
        except ValueError:
            pass
        try:
            return dt.datetime.fromisoformat(value.strip())
        except ValueError:
            pass
        try:
            return dt.time.fromisoformat(value.strip())
        except ValueError as exc:
            raise Misfit(f"{value!r} is not a date or time ({pattern.pattern!r})") from exc


def _as_int(value: Any, opts: Options) -> int:
    if isinstance(value, bool):
        raise Misfit(f"{value!r} is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float | Decimal) and value == int(value):
        return int(value)
    if isinstance(value, str):
        try:
            return int(opts.number_text(value))
        except ValueError:
            pass
    raise Misfit(f"{value!r} is not an integer")


def _as_float(value: Any, opts: Options) -> float:
    if isinstance(value, bool):
        raise Misfit(f"{value!r} is not a number")
    if isinstance(value, int | float | Decimal):
        return float(value)
    if isinstance(value, str):
        try:
            return float(opts.number_text(value))
        except ValueError:
            pass
    raise Misfit(f"{value!r} is not a number")


def _as_bool(value: Any, opts: Options) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in opts.true_values:
        return True
    if text in opts.false_values:
        return False
    raise Misfit(f"{value!r} is not a boolean")


def _as_decimal(value: Any, opts: Options, scale: int) -> Decimal:
    if isinstance(value, bool):
        raise Misfit(f"{value!r} is not a decimal")
    try:
        number = Decimal(opts.number_text(value) if isinstance(value, str) else str(value))
        return number.quantize(Decimal(1).scaleb(-scale))
    except (InvalidOperation, ValueError) as exc:
        raise Misfit(f"{value!r} is not a decimal") from exc


def _as_date(value: Any, opts: Options) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        found = opts.parse_moment(value, opts.date)
        if isinstance(found, dt.datetime):
            return found.date()
        if isinstance(found, dt.date):
            return found
    raise Misfit(f"{value!r} is not a date")


def _as_timestamp(value: Any, opts: Options, local: bool) -> dt.datetime:
    found = value
    if isinstance(value, str):
        found = opts.parse_moment(value, opts.datetime)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        found = dt.datetime.fromtimestamp(value / 1000, dt.UTC)
    if isinstance(found, dt.datetime):
        pass
    elif isinstance(found, dt.date):
        found = dt.datetime(found.year, found.month, found.day)  # noqa: DTZ001 - zoned below
    else:
        raise Misfit(f"{value!r} is not a timestamp")
    if local:
        return (
            found.replace(tzinfo=None)
            if found.tzinfo is None
            else found.astimezone(opts.zone).replace(tzinfo=None)
        )
    return found if found.tzinfo else found.replace(tzinfo=opts.zone)


def _as_time(value: Any, opts: Options) -> dt.time:
    if isinstance(value, dt.datetime):
        return value.time()
    if isinstance(value, dt.time):
        return value.replace(tzinfo=None)
    if isinstance(value, str):
        found = opts.parse_moment(value, opts.time)
        if isinstance(found, dt.datetime):
            return found.time()
        if isinstance(found, dt.time):
            return found.replace(tzinfo=None)
    raise Misfit(f"{value!r} is not a time")


def _as_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise Misfit(f"{value!r} is not bytes")


def compile_fit(schema: Any, opts: Options, names: dict[str, Any] | None = None) -> Fit:
    """A function fitting one value to ``schema``; built once per file."""
    names = {} if names is None else names
    if isinstance(schema, str):
        if schema in names:
            return compile_fit(names[schema], opts, names)
        schema = {"type": schema}
    if isinstance(schema, list):
        return _union(schema, opts, names)
    kind = schema.get("type")
    if isinstance(kind, list | dict):
        return compile_fit(kind, opts, names)
    logical = schema.get("logicalType")
    if kind == "record":
        names[schema.get("name", "")] = schema
        return _record(schema, opts, names)
    if kind == "enum":
        names[schema.get("name", "")] = schema
        symbols = set(schema.get("symbols") or ())

        def enum(v: Any) -> str:
            if str(v) not in symbols:
                raise Misfit(f"{v!r} is not one of {sorted(symbols)}")
            return str(v)

        return enum
    if kind == "array":
        item = compile_fit(schema.get("items", "string"), opts, names)

        def array(v: Any) -> list[Any]:
            if isinstance(v, str):
                try:
                    v = json.loads(v)
                except ValueError as exc:
                    raise Misfit(f"{v!r} is not a list") from exc
            if not isinstance(v, list):
                raise Misfit(f"{v!r} is not a list")
            return [item(x) for x in v]

        return array
    if kind == "map":
        value_fit = compile_fit(schema.get("values", "string"), opts, names)

        def mapping(v: Any) -> dict[str, Any]:
            if not isinstance(v, dict):
                raise Misfit(f"{v!r} is not a map")
            return {str(k): value_fit(x) for k, x in v.items()}

        return mapping
    if kind == "fixed":
        names[schema.get("name", "")] = schema
    if logical == "decimal" and kind in ("bytes", "fixed"):
        scale = int(schema.get("scale", 0))
        return lambda v: _as_decimal(v, opts, scale)
    if logical == "date" and kind == "int":
        return lambda v: _as_date(v, opts)
    if logical in ("timestamp-millis", "timestamp-micros") and kind == "long":
        return lambda v: _as_timestamp(v, opts, local=False)
    if logical in ("local-timestamp-millis", "local-timestamp-micros") and kind == "long":
        return lambda v: _as_timestamp(v, opts, local=True)
    if logical in ("time-millis", "time-micros"):
        return lambda v: _as_time(v, opts)
    if logical == "uuid":
        return _as_str
    simple: dict[str, Fit] = {
        "null": _null_only,
        "boolean": lambda v: _as_bool(v, opts),
        "int": lambda v: _as_int(v, opts),
        "long": lambda v: _as_int(v, opts),
        "float": lambda v: _as_float(v, opts),
        "double": lambda v: _as_float(v, opts),
        "string": _as_str,
        "bytes": _as_bytes,
        "fixed": _as_bytes,
    }
    if kind not in simple:
        raise ValueError(f"unsupported Avro type {kind!r}")
    fit = simple[kind]
    if kind in ("null", "string", "bytes", "fixed"):
        return fit
    return _not_null(fit)


def _null_only(v: Any) -> None:
    if v is not None:
        raise Misfit(f"{v!r} is not null")


def _not_null(fit: Fit) -> Fit:
    def checked(v: Any) -> Any:
        if v is None:
            raise Misfit("null where the schema does not allow it")
        return fit(v)

    return checked


def _union(branches: list[Any], opts: Options, names: dict[str, Any]) -> Fit:
    nullable = any(b == "null" or (isinstance(b, dict) and b.get("type") == "null")
                   for b in branches)  # fmt: skip
    fits = [compile_fit(b, opts, names) for b in branches if b != "null"]

    def union(v: Any) -> Any:
        if v is None or (nullable and isinstance(v, str) and v in opts.null_values):
            if nullable:
                return None
            raise Misfit("null where the schema does not allow it")
        errors = []
        for fit in fits:
            try:
                return fit(v)
            except Misfit as exc:
                errors.append(str(exc))
        raise Misfit("; ".join(errors) or f"{v!r} fits no branch")

    return union


def _record(schema: dict[str, Any], opts: Options, names: dict[str, Any]) -> Fit:
    fields = []
    for field in schema["fields"]:
        name = field["name"]
        fields.append((name, compile_fit(field["type"], opts, names), field.get("default")))
    known = {name for name, _, _ in fields}

    def record(v: Any) -> dict[str, Any]:
        if not isinstance(v, dict):
            raise Misfit(f"{v!r} is not a record")
        if opts.strict:
            unknown = v.keys() - known
            if unknown:
                raise Misfit(f"fields {sorted(unknown)} are not in the schema (strictSchema)")
        out = {}
        for name, fit, default in fields:
            value = v.get(name, default)
            try:
                out[name] = fit(value)
            except Misfit as exc:
                raise Misfit(f"field {name!r}: {exc}") from None
        return out

    return record

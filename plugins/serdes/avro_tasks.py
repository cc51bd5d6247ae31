"""Avro <-> Ion (Kestra's ``serdes.avro.AvroToIon`` and ``IonToAvro``) on fastavro's
streaming reader and writer (records pass one at a time; the writer flushes a block every
few thousand).

IonToAvro takes Kestra's Avro ``schema`` (JSON) and fits each row to it (see
:mod:`plugins.serdes.avro_schema`); without one it infers a schema from the first
``numberOfRowsToScan`` rows, reading the file a second time for the conversion.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from kernel.plugin import Output, Prop, RunContext, TaskFailed
from plugins.serdes.avro_infer import infer_schema
from plugins.serdes.avro_schema import (
    FALSE_VALUES,
    NULL_VALUES,
    TRUE_VALUES,
    Misfit,
    Options,
    compile_fit,
    parse_schema,
)
from plugins.serdes.common import (
    FROM,
    ON_BAD_LINES,
    TIME_ZONE,
    BadLines,
    SerdesTask,
    read_ion,
    source_path,
    stop_point,
    store,
    target_path,
    time_zone,
    write_ion_rows,
)

#: Properties IonToAvro and IonToParquet share (Kestra's AbstractAvroConverter).
SCHEMA_PROPERTIES: tuple[Prop, ...] = (
    Prop("schema", "string", description="The Avro schema (JSON); inferred when absent."),
    Prop("numberOfRowsToScan", "integer", default=100,
         description="Rows read to infer a schema when none is given."),
    Prop("dateFormat", "string", default="yyyy-MM-dd[XXX]"),
    Prop("datetimeFormat", "string", default="yyyy-MM-dd'T'HH:mm[:ss][.SSSSSS][XXX]"),
    Prop("timeFormat", "string", default="HH:mm[:ss][.SSSSSS][XXX]"),
    Prop("decimalSeparator", "string", default="."),
    Prop("trueValues", "list", default=list(TRUE_VALUES), items="string"),
    Prop("falseValues", "list", default=list(FALSE_VALUES), items="string"),
    Prop("nullValues", "list", default=list(NULL_VALUES), items="string"),
    Prop("inferAllFields", "boolean", default=False,
         description="Accepted for compatibility: true, false and null texts are always "
         "read only for fields whose schema admits a boolean or null."),
    Prop("strictSchema", "boolean", default=False,
         description="A row holding a field the schema lacks is a bad line."),
    TIME_ZONE,
    ON_BAD_LINES,
)  # fmt: skip

_EXAMPLE = """id: avro_round_trip
namespace: trellis.examples
tasks:
  - id: write
    type: trellis.core.storage.Write
    content: |
      id,price,sold_at
      1,9.99,2024-01-02T03:04:05Z
    extension: .csv
  - id: to_ion
    type: trellis.serdes.csv.CsvToIon
    from: "{{ outputs.write.uri }}"
  - id: to_avro
    type: trellis.serdes.avro.IonToAvro
    from: "{{ outputs.to_ion.uri }}"
    schema: |
      {"type": "record", "name": "Sale", "fields": [
        {"name": "id", "type": "long"},
        {"name": "price", "type": "double"},
        {"name": "sold_at", "type": {"type": "long", "logicalType": "timestamp-millis"}}
      ]}
  - id: back
    type: trellis.serdes.avro.AvroToIon
    from: "{{ outputs.to_avro.uri }}"
"""


def validate_schema(props: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A literal ``schema`` must be a record schema fastavro accepts."""
    text = props.get("schema")
    if not isinstance(text, str) or "{{" in text:
        return []
    # optional dependency (extra "serdes"): its presence was checked before this runs
    import fastavro

    try:
        fastavro.parse_schema(parse_schema(text))
    except (ValueError, TypeError, KeyError, fastavro.schema.SchemaParseException) as exc:
        return [("schema", f"not a usable Avro schema: {exc}")]
    return []


def schema_for(source: Path, props: Mapping[str, Any], ctx: RunContext) -> dict[str, Any]:
    """The given schema, or one inferred from the file's first rows."""
    text = props.get("schema")
    if text:
        try:
            return parse_schema(text)
        except ValueError as exc:
            raise TaskFailed(f"schema: {exc}") from exc
    scan = max(1, int(props.get("numberOfRowsToScan") or 100))
    try:
        schema = infer_schema(itertools.islice(read_ion(source), scan))
    except ValueError as exc:
        raise TaskFailed(f"cannot infer a schema: {exc}") from exc
    ctx.logger.debug(f"Inferred Avro schema from {scan} rows: {schema}")
    return schema


def fitted_rows(
    source: Path, schema: dict[str, Any], props: Mapping[str, Any], ctx: RunContext
) -> Iterator[dict[str, Any]]:
    """The file's rows fitted to the schema; misfits go through ``onBadLines``."""
    try:
        fit = compile_fit(schema, Options(props, time_zone(props)))
    except ValueError as exc:
        raise TaskFailed(f"schema: {exc}") from exc
    bad = BadLines(ctx, props.get("onBadLines"))
    for number, row in enumerate(read_ion(source), start=1):
        try:
            yield fit(row)
        except Misfit as exc:
            bad(f"row {number}", str(exc))
        stop_point(ctx, number)


class SchemaTask(SerdesTask):
    """IonToAvro and IonToParquet: rows fitted to an Avro ``schema`` checked at deploy."""

    @classmethod
    def validate_props(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return validate_schema(props)


class IonToAvro(SchemaTask):
    """Write Ion rows as an Avro file, fitted to ``schema`` (or one inferred from the rows)."""

    type = "trellis.serdes.avro.IonToAvro"
    aliases = ("io.kestra.plugin.serdes.avro.IonToAvro", "io.kestra.plugin.serdes.avro.AvroWriter")
    requires = ("amazon.ion", "fastavro")
    properties: ClassVar = (FROM, *SCHEMA_PROPERTIES)
    examples = (_EXAMPLE,)

    outputs: ClassVar = (Output("uri", "The converted file.", "uri"),)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        # optional dependency (extra "serdes"): imported when the task runs
        import fastavro

        source = source_path(ctx, props.get("from"))
        target = target_path(ctx, source, ".avro")
        schema = schema_for(source, props, ctx)
        try:
            parsed = fastavro.parse_schema(schema)
        except Exception as exc:  # fastavro raises several types for a bad schema
            raise TaskFailed(f"schema: {exc}") from exc
        rows = fitted_rows(source, schema, props, ctx)
        with target.open("wb") as out:
            try:
                fastavro.writer(out, parsed, rows)
            except (ValueError, TypeError, OverflowError) as exc:
                raise TaskFailed(f"cannot write Avro: {exc}") from exc
        return {"uri": store(ctx, target)}


class AvroToIon(SerdesTask):
    """Read an Avro file (its own schema) into Ion rows."""

    type = "trellis.serdes.avro.AvroToIon"
    aliases = ("io.kestra.plugin.serdes.avro.AvroToIon", "io.kestra.plugin.serdes.avro.AvroReader")
    requires = ("amazon.ion", "fastavro")
    properties: ClassVar = (FROM,)
    examples = (_EXAMPLE,)

    outputs: ClassVar = (Output("uri", "The converted file.", "uri"),)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        # optional dependency (extra "serdes"): imported when the task runs
        import fastavro

        source = source_path(ctx, props.get("from"))
        target = target_path(ctx, source, ".ion")
        with source.open("rb") as stream:
            try:
                count = write_ion_rows(ctx, target, fastavro.reader(stream))
            except (ValueError, EOFError) as exc:
                raise TaskFailed(f"not a readable Avro file: {exc}") from exc
        ctx.logger.debug(f"Converted {count} Avro records to Ion")
        return {"uri": store(ctx, target)}


class InferAvroSchemaFromIon(SerdesTask):
    """Infer an Avro schema from the first ``numberOfRowsToScan`` rows of an Ion file; outputs
    the ``uri`` of the schema (JSON), ready for IonToAvro's or IonToParquet's ``schema``."""

    type = "trellis.serdes.avro.InferAvroSchemaFromIon"
    aliases = ("io.kestra.plugin.serdes.avro.InferAvroSchemaFromIon",)
    properties: ClassVar = (
        FROM,
        Prop("numberOfRowsToScan", "integer", default=100,
             description="Rows read; more rows, a more precise schema."),
    )  # fmt: skip

    outputs: ClassVar = (Output("uri", "The inferred Avro schema (.avsc).", "uri"),)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        source = source_path(ctx, props.get("from"))
        target = target_path(ctx, source, ".avsc")
        schema = schema_for(source, {**props, "schema": None}, ctx)
        target.write_text(json.dumps(schema, indent=2), encoding="utf-8")
        return {"uri": store(ctx, target)}


PLUGINS = [IonToAvro, AvroToIon, InferAvroSchemaFromIon]

"""Parquet <-> Ion (Kestra's ``serdes.parquet.ParquetToIon`` and ``IonToParquet``) on
pyarrow: reading goes batch by batch over the row groups, writing gathers rows into batches
of :data:`BATCH_ROWS` and hands each to a ``ParquetWriter`` (one row group each), so neither
side holds the file in memory.

Like Kestra, IonToParquet takes an Avro ``schema`` (or infers one) and fits rows to it with
the same rules as IonToAvro; the Avro types map onto Arrow's.
"""

from __future__ import annotations

from typing import Any, ClassVar

from kernel.plugin import Output, Prop, RunContext, TaskFailed
from plugins.serdes.avro_tasks import SCHEMA_PROPERTIES, SchemaTask, fitted_rows, schema_for
from plugins.serdes.common import (
    FROM,
    SerdesTask,
    ion_output,
    source_path,
    store,
    target_path,
)

#: Rows per written row group (and per batch read).
BATCH_ROWS = 10_000
CODECS = ("UNCOMPRESSED", "SNAPPY", "GZIP", "ZSTD", "LZ4", "BROTLI")

_EXAMPLE = """id: parquet_round_trip
namespace: trellis.examples
tasks:
  - id: write
    type: trellis.core.storage.Write
    content: |
      {"city": "Lyon", "population": 522250}
      {"city": "Nantes", "population": 323204}
    extension: .jsonl
  - id: to_ion
    type: trellis.serdes.json.JsonToIon
    from: "{{ outputs.write.uri }}"
  - id: to_parquet
    type: trellis.serdes.parquet.IonToParquet
    from: "{{ outputs.to_ion.uri }}"
    compressionCodec: ZSTD
  - id: back
    type: trellis.serdes.parquet.ParquetToIon
    from: "{{ outputs.to_parquet.uri }}"
"""


def arrow_type(schema: Any, names: dict[str, Any] | None = None) -> tuple[Any, bool]:
    """An Avro type -> (Arrow type, nullable)."""
    # optional dependency (extra "serdes"): imported when the task runs
    import pyarrow as pa

    names = {} if names is None else names
    if isinstance(schema, str):
        if schema in names:
            return arrow_type(names[schema], names)
        schema = {"type": schema}
    if isinstance(schema, list):
        branches = [b for b in schema if b != "null"]
        nullable = len(branches) < len(schema)
        if len(branches) != 1:
            return pa.string(), nullable
        inner, _ = arrow_type(branches[0], names)
        return inner, nullable
    kind, logical = schema.get("type"), schema.get("logicalType")
    if isinstance(kind, list | dict):
        return arrow_type(kind, names)
    if kind in ("record", "enum", "fixed"):
        names[schema.get("name", "")] = schema
    if logical == "decimal":
        return pa.decimal128(int(schema.get("precision", 38)), int(schema.get("scale", 0))), False
    if logical == "date":
        return pa.date32(), False
    if logical in ("timestamp-millis", "timestamp-micros"):
        return pa.timestamp("ms" if logical.endswith("millis") else "us", tz="UTC"), False
    if logical in ("local-timestamp-millis", "local-timestamp-micros"):
        return pa.timestamp("ms" if logical.endswith("millis") else "us"), False
    if logical == "time-millis":
        return pa.time32("ms"), False
    if logical == "time-micros":
        return pa.time64("us"), False
    if kind == "record":
        fields = []
        for field in schema["fields"]:
            inner, nullable = arrow_type(field["type"], names)
            fields.append(pa.field(field["name"], inner, nullable=nullable))
        return pa.struct(fields), False
    if kind == "array":
        return pa.list_(arrow_type(schema.get("items", "string"), names)[0]), False
    if kind == "map":
        return pa.map_(pa.string(), arrow_type(schema.get("values", "string"), names)[0]), False
    simple = {
        "null": pa.null(),
        "boolean": pa.bool_(),
        "int": pa.int32(),
        "long": pa.int64(),
        "float": pa.float32(),
        "double": pa.float64(),
        "string": pa.string(),
        "enum": pa.string(),
        "bytes": pa.binary(),
        "fixed": pa.binary(int(schema.get("size", 0)) or -1),
    }
    if kind not in simple:
        raise ValueError(f"unsupported Avro type {kind!r}")
    return simple[kind], kind == "null"


class IonToParquet(SchemaTask):
    """Write Ion rows as a Parquet file, fitted to an Avro ``schema`` (or one inferred)."""

    type = "trellis.serdes.parquet.IonToParquet"
    aliases = (
        "io.kestra.plugin.serdes.parquet.IonToParquet",
        "io.kestra.plugin.serdes.parquet.ParquetWriter",
    )
    requires = ("amazon.ion", "pyarrow", "fastavro")
    properties: ClassVar = (
        FROM,
        *SCHEMA_PROPERTIES,
        Prop("compressionCodec", "string", default="GZIP", choices=CODECS),
        Prop("parquetVersion", "string", default="V2", choices=("V1", "V2")),
        Prop("rowGroupSize", "integer", default=134217728,
             description=f"Accepted for compatibility: row groups hold {BATCH_ROWS} rows."),
        Prop("pageSize", "integer", default=1048576, description="Data page size in bytes."),
        Prop("dictionaryPageSize", "integer", default=1048576,
             description="Dictionary page size limit in bytes."),
    )  # fmt: skip
    examples = (_EXAMPLE,)

    outputs: ClassVar = (Output("uri", "The converted file.", "uri"),)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        # optional dependency (extra "serdes"): imported when the task runs
        import pyarrow as pa
        import pyarrow.parquet as pq

        source = source_path(ctx, props.get("from"))
        target = target_path(ctx, source, ".parquet")
        schema = schema_for(source, props, ctx)
        try:
            arrow_schema = pa.schema(arrow_type(schema)[0])
        except (ValueError, KeyError, TypeError) as exc:
            raise TaskFailed(f"schema: {exc}") from exc
        codec = str(props.get("compressionCodec") or "GZIP").upper()
        writer = pq.ParquetWriter(
            str(target),
            arrow_schema,
            compression="NONE" if codec == "UNCOMPRESSED" else codec,
            version="1.0" if props.get("parquetVersion") == "V1" else "2.6",
            data_page_size=int(props.get("pageSize") or 1048576),
            dictionary_pagesize_limit=int(props.get("dictionaryPageSize") or 1048576),
        )
        count = 0
        try:
            batch: list[dict[str, Any]] = []
            for row in fitted_rows(source, schema, props, ctx):
                batch.append(row)
                if len(batch) >= BATCH_ROWS:
                    count += self._write(writer, batch, arrow_schema)
                    batch = []
            count += self._write(writer, batch, arrow_schema)
        finally:
            writer.close()
        ctx.logger.debug(f"Converted {count} Ion rows to Parquet")
        return {"uri": store(ctx, target)}

    @staticmethod
    def _write(writer: Any, rows: list[dict[str, Any]], arrow_schema: Any) -> int:
        # optional dependency (extra "serdes"): imported when the task runs
        import pyarrow as pa

        if not rows:
            return 0
        try:
            writer.write_batch(pa.RecordBatch.from_pylist(rows, schema=arrow_schema))
        except (pa.ArrowException, ValueError, TypeError, OverflowError) as exc:
            raise TaskFailed(f"cannot write Parquet: {exc}") from exc
        return len(rows)


class ParquetToIon(SerdesTask):
    """Read a Parquet file, row group by row group, into Ion rows."""

    type = "trellis.serdes.parquet.ParquetToIon"
    aliases = (
        "io.kestra.plugin.serdes.parquet.ParquetToIon",
        "io.kestra.plugin.serdes.parquet.ParquetReader",
    )
    requires = ("amazon.ion", "pyarrow")
    properties: ClassVar = (FROM,)
    examples = (_EXAMPLE,)

    outputs: ClassVar = (Output("uri", "The converted file.", "uri"),)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        # optional dependency (extra "serdes"): imported when the task runs
        import pyarrow as pa
        import pyarrow.parquet as pq

        source = source_path(ctx, props.get("from"))
        target = target_path(ctx, source, ".ion")
        try:
            parquet = pq.ParquetFile(str(source))
        except (pa.ArrowException, OSError) as exc:
            raise TaskFailed(f"not a readable Parquet file: {exc}") from exc
        with ion_output(target) as out:
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
                for row in _plain(batch).to_pylist():
                    out.write(row)
                if ctx.should_stop():
                    raise TaskFailed("stopped while converting")
        ctx.logger.debug(f"Converted {out.count} Parquet rows to Ion")
        return {"uri": store(ctx, target)}


def _plain(batch: Any) -> Any:
    """Nanosecond timestamps, which Python's datetime cannot hold, cast to microseconds."""
    # optional dependency (extra "serdes"): imported when the task runs
    import pyarrow as pa

    columns = []
    changed = False
    for column in batch.columns:
        kind = column.type
        if pa.types.is_timestamp(kind) and kind.unit == "ns":
            column = column.cast(pa.timestamp("us", tz=kind.tz), safe=False)
            changed = True
        columns.append(column)
    if not changed:
        return batch
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


PLUGINS = [IonToParquet, ParquetToIon]

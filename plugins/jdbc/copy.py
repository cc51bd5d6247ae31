"""``CopyIn`` / ``CopyOut``: PostgreSQL's COPY between a table (or a query) and a file of
internal storage (Kestra's ``io.kestra.plugin.jdbc.postgresql.CopyIn`` / ``CopyOut``).

The COPY statement is composed with psycopg2's ``sql`` module: table and column names are
quoted identifiers and every option value a quoted literal, so nothing a flow writes is
pasted into SQL. The data streams through ``copy_expert`` between the database and a file,
never held in memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from kernel.plugin import Output, Prop, RunContext, RunnableTask, TaskFailed
from plugins.jdbc.common import CONNECTION_PROPS, target_of, validate_connection
from plugins.jdbc.runner import driver_error, engine_for

FORMATS = ("TEXT", "CSV", "BINARY")
_SUFFIX = {"TEXT": "txt", "CSV": "csv", "BINARY": "bin"}

COPY_PROPS: tuple[Prop, ...] = (
    Prop("table", "string", description="Table (optionally schema.table)."),
    Prop("columns", "list", items="string", description="Columns to copy (default: all)."),
    Prop("format", "string", default="TEXT", choices=FORMATS, dynamic=False),
    Prop("header", "boolean", description="CSV: the file has a header line."),
    Prop("delimiter", "string", description="Column separator (one character)."),
    Prop("nullString", "string", description="How a NULL is written."),
    Prop("quote", "string", description="CSV quote character."),
    Prop("escape", "string", description="CSV escape character."),
    Prop("encoding", "string", description="File encoding (default: the client's)."),
    Prop("oids", "boolean", deprecated="PostgreSQL 12 removed OIDS; ignored"),
)


def _identifier(name: str) -> Any:
    from psycopg2 import sql  # optional driver, imported where used

    parts = [p for p in str(name).split(".") if p]
    if not parts or len(parts) > 3:
        raise TaskFailed(f"bad table name {name!r}")
    return sql.Identifier(*parts)


def copy_statement(props: dict[str, Any], direction: str) -> Any:
    """``COPY <table|(query)> [(cols)] FROM STDIN | TO STDOUT WITH (...)`` as a composed
    psycopg2 ``sql.Composed``."""
    from psycopg2 import sql  # optional driver, imported where used

    fmt = str(props.get("format") or "TEXT").upper()
    if fmt not in FORMATS:
        raise TaskFailed(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    options = [sql.SQL("FORMAT {}").format(sql.SQL(fmt.lower()))]
    if props.get("header") is not None and fmt == "CSV":
        options.append(sql.SQL("HEADER {}").format(sql.SQL("true" if props["header"] else "false")))
    for prop, word in (
        ("delimiter", "DELIMITER"),
        ("nullString", "NULL"),
        ("quote", "QUOTE"),
        ("escape", "ESCAPE"),
        ("encoding", "ENCODING"),
    ):
        if props.get(prop) is not None:
            options.append(sql.SQL(f"{word} {{}}").format(sql.Literal(str(props[prop]))))
    for prop, word in (
        ("forceQuote", "FORCE_QUOTE"),
        ("forceNotNull", "FORCE_NOT_NULL"),
        ("forceNull", "FORCE_NULL"),
    ):
        if props.get(prop):
            names = sql.SQL(", ").join(sql.Identifier(str(c)) for c in props[prop])
            options.append(sql.SQL(f"{word} ({{}})").format(names))
    if props.get("freeze"):
        options.append(sql.SQL("FREEZE true"))
    columns = props.get("columns") or []
    cols = (
        sql.SQL(" ({})").format(sql.SQL(", ").join(sql.Identifier(str(c)) for c in columns))
        if columns
        else sql.SQL("")
    )
    if props.get("table"):
        source = sql.SQL("{}{}").format(_identifier(props["table"]), cols)
    elif direction == "TO" and props.get("sql"):
        source = sql.SQL("({})").format(sql.SQL(str(props["sql"]).strip().rstrip(";")))
    else:
        raise TaskFailed("set `table`" + (" or `sql`" if direction == "TO" else ""))
    end = sql.SQL("FROM STDIN") if direction == "FROM" else sql.SQL("TO STDOUT")
    return sql.SQL("COPY {} {} WITH ({})").format(source, end, sql.SQL(", ").join(options))


def _copy(props: dict[str, Any], ctx: RunContext, direction: str, path: Path) -> int:
    target = target_of(props, ctx.working_dir, ctx.logger)
    if target.database != "postgresql":
        raise TaskFailed(f"COPY works with PostgreSQL only, not {target.database}")
    engine = engine_for(target)
    try:
        raw = engine.raw_connection()
    except Exception as exc:  # noqa: BLE001 - any connection failure fails the task
        engine.dispose()
        raise TaskFailed(driver_error(exc)) from None
    try:
        statement = copy_statement(props, direction)
        with raw.cursor() as cursor:
            with path.open("rb" if direction == "FROM" else "wb") as file:
                cursor.copy_expert(statement.as_string(raw.driver_connection), file)
            count = cursor.rowcount
        raw.commit()
        return max(0, int(count))
    except TaskFailed:
        raw.rollback()
        raise
    except Exception as exc:  # noqa: BLE001 - a database error fails the task
        raw.rollback()
        raise TaskFailed(driver_error(exc)) from None
    finally:
        raw.close()
        engine.dispose()


class CopyIn(RunnableTask):
    """Load a file of internal storage into a PostgreSQL table with COPY ... FROM STDIN."""

    type = "trellis.jdbc.CopyIn"
    aliases = ("io.kestra.plugin.jdbc.postgresql.CopyIn",)
    properties: ClassVar = (
        *CONNECTION_PROPS,
        Prop("from", "string", required=True, description="kestra:// URI of the file."),
        *COPY_PROPS,
        Prop("forceNotNull", "list", items="string", description="CSV: never NULL columns."),
        Prop("forceNull", "list", items="string", description="CSV: quoted empty is NULL."),
        Prop("freeze", "boolean", description="COPY ... FREEZE."),
    )
    examples = (
        """id: load-csv
namespace: trellis.examples
tasks:
  - id: download
    type: io.kestra.plugin.core.http.Download
    uri: https://example.com/products.csv
  - id: load
    type: io.kestra.plugin.jdbc.postgresql.CopyIn
    url: jdbc:postgresql://127.0.0.1:5432/shop
    username: postgres
    from: "{{ outputs.download.uri }}"
    table: products
    format: CSV
    header: true
""",
    )

    outputs: ClassVar = (Output("rowCount", "Rows copied in.", "integer"),)

    @classmethod
    def validate(cls, props: dict[str, Any]) -> list[tuple[str, str]]:
        errors = validate_connection(props, postgres_only=True)
        if not props.get("table"):
            errors.append(("table", "missing required property 'table'"))
        return errors

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        source = ctx.open_uri(str(props.get("from") or ""))
        count = _copy(props, ctx, "FROM", source)
        ctx.logger.info(f"Copied {count} row(s) into {props.get('table')}")
        return {"rowCount": count}


class CopyOut(RunnableTask):
    """Export a PostgreSQL table or query to a file of internal storage (COPY ... TO STDOUT)."""

    type = "trellis.jdbc.CopyOut"
    aliases = ("io.kestra.plugin.jdbc.postgresql.CopyOut",)
    properties: ClassVar = (
        *CONNECTION_PROPS,
        Prop("sql", "string", description="Query to export (instead of `table`)."),
        *COPY_PROPS,
        Prop("forceQuote", "list", items="string", description="CSV: always quoted columns."),
    )
    examples = (
        """id: export-csv
namespace: trellis.examples
tasks:
  - id: export
    type: io.kestra.plugin.jdbc.postgresql.CopyOut
    url: jdbc:postgresql://127.0.0.1:5432/shop
    username: postgres
    sql: SELECT * FROM products
    format: CSV
    header: true
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "{{ outputs.export.rowCount }} rows in {{ outputs.export.uri }}"
""",
    )

    outputs: ClassVar = (
        Output("uri", "The exported file.", "uri"),
        Output("rowCount", "Rows copied out.", "integer"),
    )

    @classmethod
    def validate(cls, props: dict[str, Any]) -> list[tuple[str, str]]:
        errors = validate_connection(props, postgres_only=True)
        if not props.get("table") and not props.get("sql"):
            errors.append(("sql", "set `table` or `sql`"))
        return errors

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        fmt = str(props.get("format") or "TEXT").upper()
        path = ctx.working_dir / f"copy-out.{_SUFFIX.get(fmt, 'txt')}"
        count = _copy(props, ctx, "TO", path)
        uri = ctx.put_file(path, path.name)
        ctx.logger.info(f"Copied {count} row(s) to {uri}")
        return {"uri": uri, "rowCount": count}


PLUGINS = [CopyIn, CopyOut]

"""``Query`` and ``Queries``: run SQL on PostgreSQL, MySQL, MariaDB, SQLite or DuckDB
(Kestra's ``io.kestra.plugin.jdbc.<database>.Query`` / ``Queries``).

``Query`` runs its SQL (usually one statement) in one transaction and outputs the rows of
the last statement that returned any, per ``fetchType``: ``row`` (FETCH_ONE), ``rows``
(FETCH) or ``uri`` of an Ion file in internal storage (STORE), with ``size``. ``Queries``
runs several statements, in one transaction unless ``transaction: false``, and outputs
``outputs``: one such entry per statement that returned rows.

SQLite and DuckDB files: a relative path in the URL is inside the task's working directory
(gone after the run), so flows pass files with ``sqliteFile`` / ``databaseUri`` (an internal
storage URI copied in first) and get them back with ``outputDbFile: true`` (output
``databaseUri``). DuckDB's ``inputFiles`` are written to the working directory, where
DuckDB looks for relative file names.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, ClassVar

from kernel.plugin import Output, Prop, RunContext, RunnableTask, TaskFailed
from plugins.jdbc.common import (
    ACCEPTED_PROPS,
    CONNECTION_PROPS,
    FETCH_PROPS,
    QUERY_PROPS,
    check_file_allowed,
    mode_and_options,
    parameters_of,
    target_of,
    validate_connection,
    validate_fetch,
)
from plugins.jdbc.runner import Store, run_script, split_statements
from plugins.jdbc.urls import Target

DATABASES = ("postgresql", "mysql", "mariadb", "sqlite", "duckdb")

FILE_PROPS: tuple[Prop, ...] = (
    Prop(
        "sqliteFile",
        "string",
        description="SQLite: internal-storage URI of a database file to query (copied in).",
    ),
    Prop(
        "databaseUri",
        "string",
        description="DuckDB: internal-storage URI of a database file to query (copied in).",
    ),
    Prop(
        "outputDbFile",
        "boolean",
        default=False,
        description="SQLite/DuckDB: put the database file in storage (output `databaseUri`).",
    ),
    Prop(
        "inputFiles",
        "any",
        description="DuckDB: files to write in the working directory (name -> content or URI).",
    ),
    Prop(
        "inputFile",
        "string",
        description="MySQL/MariaDB: internal-storage URI of a file for LOAD DATA LOCAL INFILE "
        "'{{ inputFile }}' (copied in; the SQL sees its local path).",
    ),
    Prop(
        "outputFiles",
        "list",
        items="string",
        description="DuckDB: files the SQL writes at `{{ outputFiles.<name> }}`, put in "
        "storage afterwards (output `outputFiles`: name -> URI).",
    ),
)
#: ``sql`` is rendered by the task itself, with ``workingDir`` and ``outputFiles`` added to
#: the execution's variables (Kestra's DuckDB flows write ``COPY ... TO '{{ outputFiles.x }}'``).
_SQL = Prop(
    "sql",
    "string",
    required=True,
    dynamic=False,
    description="The SQL to run; expressions see `workingDir` and `outputFiles` too.",
)


def _task_props(*extra: Prop) -> tuple[Prop, ...]:
    shared = tuple(_SQL if p.name == "sql" else p for p in QUERY_PROPS)
    return (*CONNECTION_PROPS, *shared, *FETCH_PROPS, *extra, *FILE_PROPS, *ACCEPTED_PROPS)


def kestra_names(name: str, databases: tuple[str, ...] = DATABASES) -> tuple[str, ...]:
    return tuple(f"io.kestra.plugin.jdbc.{db}.{name}" for db in databases)


class _SqlTask(RunnableTask):
    """What Query and Queries share: connecting, files in and out, outputs."""

    @classmethod
    def validate(cls, props: dict[str, Any]) -> list[tuple[str, str]]:
        return validate_connection(props) + validate_fetch(props)

    def _statements(self, sql: str, target: Target) -> list[str]:
        statements = split_statements(
            sql, backslash_escapes=target.database in ("mysql", "mariadb")
        )
        if not statements:
            raise TaskFailed("`sql` holds no statement")
        return statements

    def _run(
        self, props: dict[str, Any], ctx: RunContext, *, transaction: bool
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        target = target_of(props, ctx.working_dir, ctx.logger)
        target = _bring_database_file(props, ctx, target)
        _write_input_files(props.get("inputFiles"), ctx)
        mode, size, tz = mode_and_options(props)
        names = [str(n) for n in props.get("outputFiles") or []]
        files = {n: ctx.working_dir / n for n in names}
        for name, path in files.items():
            if ctx.working_dir.resolve() not in path.resolve().parents:
                raise TaskFailed(f"outputFiles name {name!r} leaves the working directory")
        extra_vars: dict[str, Any] = {
            "workingDir": str(ctx.working_dir),
            "outputFiles": {n: str(p) for n, p in files.items()},
        }
        if props.get("inputFile"):
            if target.database not in ("mysql", "mariadb"):
                raise TaskFailed("inputFile is for MySQL and MariaDB (LOAD DATA LOCAL INFILE)")
            local = ctx.working_dir / "input-file"
            shutil.copyfile(ctx.open_uri(str(props["inputFile"])), local)
            extra_vars["inputFile"] = str(local)
            target.query["local_infile"] = "1"  # PyMySQL refuses LOCAL INFILE otherwise
        sql = ctx.render(props.get("sql") or "", extra_vars)
        statements = self._statements("" if sql is None else str(sql), target)
        setup = None
        if target.database == "duckdb":
            folder = str(ctx.working_dir).replace("'", "''")

            def setup(conn: Any) -> None:  # relative names (inputFiles) resolve here
                conn.exec_driver_sql(f"SET file_search_path = '{folder}'")

        outputs = run_script(
            target,
            statements,
            parameters_of(props),
            mode,
            store=Store(ctx.working_dir, "result"),
            transaction=transaction,
            after_sql=props.get("afterSQL") or None,
            fetch_size=size,
            tz=tz,
            should_stop=ctx.should_stop,
            setup=setup,
        )
        for out in outputs:
            if isinstance(out.get("uri"), Path):
                path: Path = out["uri"]
                out["uri"] = ctx.put_file(path, path.name)
                path.unlink(missing_ok=True)
        extra: dict[str, Any] = {}
        if files:
            absent = [n for n, p in files.items() if not p.is_file()]
            if absent:
                raise TaskFailed(f"the SQL wrote no file for outputFiles {', '.join(absent)}")
            extra["outputFiles"] = {n: ctx.put_file(p, p.name) for n, p in files.items()}
        if props.get("outputDbFile") and target.is_file and target.name:
            extra["databaseUri"] = ctx.put_file(Path(target.name), Path(target.name).name)
        total = sum(int(o.get("size") or 0) for o in outputs)
        ctx.logger.info(f"{len(statements)} statement(s) run, {total} row(s) returned ({mode})")
        return outputs, extra


def _bring_database_file(props: dict[str, Any], ctx: RunContext, target: Target) -> Target:
    """Copy ``sqliteFile`` / ``databaseUri`` from storage to where the URL points (or to a
    file of the working directory when the URL is in-memory)."""
    uri = props.get("sqliteFile") or props.get("databaseUri")
    if not uri or not target.is_file:
        return target
    source = ctx.open_uri(str(uri))
    dest = Path(target.name) if target.name else ctx.working_dir / f"database.{target.database}"
    check_file_allowed(Target(database=target.database, drivername="", name=str(dest)),
                       ctx.working_dir)  # fmt: skip
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, dest)
    return Target(database=target.database, drivername=target.drivername, name=str(dest))


def _write_input_files(files: Any, ctx: RunContext) -> None:
    if not files:
        return
    if not isinstance(files, dict):
        raise TaskFailed("`inputFiles` must be a map of file name -> content or kestra:// URI")
    root = ctx.working_dir.resolve()
    for name, content in files.items():
        dest = (root / str(name)).resolve()
        if root not in dest.parents:
            raise TaskFailed(f"inputFiles name {name!r} leaves the working directory")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str) and content.startswith("kestra://"):
            shutil.copyfile(ctx.open_uri(content), dest)
        else:
            dest.write_text("" if content is None else str(content), encoding="utf-8")


class Query(_SqlTask):
    """Run SQL and output its rows per ``fetchType`` (Kestra's ``jdbc.*.Query``)."""

    type = "trellis.jdbc.Query"
    aliases = kestra_names("Query")
    properties: ClassVar = _task_props()
    examples = (
        """id: sql-query
namespace: trellis.examples
tasks:
  - id: q
    type: io.kestra.plugin.jdbc.postgresql.Query
    url: jdbc:postgresql://127.0.0.1:5432/postgres
    username: postgres
    password: "{{ secret('POSTGRES_PASSWORD') }}"
    sql: SELECT id, name FROM customers WHERE country = :country
    parameters:
      country: FR
    fetchType: STORE
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "{{ outputs.q.size }} rows in {{ outputs.q.uri }}"
""",
    )

    outputs: ClassVar = (
        Output("row", "The first row (fetchType FETCH_ONE).", "map"),
        Output("rows", "Every row (fetchType FETCH).", "list"),
        Output("uri", "The rows as an Ion file (fetchType STORE).", "uri"),
        Output("size", "Rows fetched, or rows affected when nothing is fetched.", "integer"),
        Output("outputFiles", "Files the SQL wrote (`outputFiles`), name -> URI.", "map"),
        Output(
            "databaseUri", "The database file, with `outputDbFile: true` (SQLite, DuckDB).", "uri"
        ),
    )

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        outputs, extra = self._run(props, ctx, transaction=True)
        return {**(outputs[-1] if outputs else {}), **extra}


class Queries(_SqlTask):
    """Run several statements, in one transaction by default (Kestra's ``jdbc.*.Queries``);
    outputs one entry per statement that returned rows."""

    type = "trellis.jdbc.Queries"
    aliases = kestra_names("Queries")
    properties: ClassVar = _task_props(
        Prop(
            "transaction",
            "boolean",
            default=True,
            description="Run every statement in one transaction (all or nothing).",
        ),
    )
    examples = (
        """id: sql-queries
namespace: trellis.examples
tasks:
  - id: init
    type: io.kestra.plugin.jdbc.sqlite.Queries
    url: jdbc:sqlite:shop.db
    outputDbFile: true
    sql: |
      CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT);
      INSERT INTO products (name) VALUES ('pen'), ('ink');
      SELECT count(*) AS n FROM products;
    fetchType: FETCH_ONE
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "{{ outputs.init.outputs[0].row.n }} products"
""",
    )

    outputs: ClassVar = (
        Output(
            "outputs", "One entry (row, rows, uri, size) per statement that returned rows.", "list"
        ),
        Output("outputFiles", "Files the SQL wrote (`outputFiles`), name -> URI.", "map"),
        Output(
            "databaseUri", "The database file, with `outputDbFile: true` (SQLite, DuckDB).", "uri"
        ),
    )

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        transaction = props.get("transaction") is not False
        outputs, extra = self._run(props, ctx, transaction=transaction)
        return {"outputs": outputs, **extra}


PLUGINS = [Query, Queries]

"""The SQL family against real databases: PostgreSQL and MariaDB on this machine (skipped
when unreachable), SQLite and DuckDB files."""

from __future__ import annotations

import decimal
from pathlib import Path

import pytest

from kernel.plugin import TaskFailed
from plugins.jdbc.copy import CopyIn, CopyOut
from plugins.jdbc.ion_rows import read_rows
from plugins.jdbc.query import Queries, Query
from plugins.jdbc.trigger import Trigger
from tests.unit.fake_context import PollContext

CREATE = {
    "pg": "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(50), price NUMERIC(10,2), "
    "born DATE, seen TIMESTAMP)",
    "mariadb": "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(50), price DECIMAL(10,2), "
    "born DATE, seen DATETIME)",
    "sqlite": "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price NUMERIC, born TEXT, "
    "seen TEXT)",
    "duckdb": "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR, price DECIMAL(10,2), "
    "born DATE, seen TIMESTAMP)",
}
INSERT = (
    "INSERT INTO items VALUES (1, 'pen', 1.50, '2024-01-02', '2024-01-02 03:04:05'), "
    "(2, 'ink: blue', 12.00, '2024-02-03', '2024-02-03 04:05:06')"
)


def run(cls, ctx, **props):  # noqa: ANN001, ANN201 - a short helper
    return cls().run(props, ctx)


def test_query_fetch_types_on_every_database(any_url, ctx) -> None:
    database, url = any_url
    run(Queries, ctx, url=url, sql=f"{CREATE[database]}; {INSERT}")
    sql = "SELECT id, name, price, born FROM items WHERE id >= :low ORDER BY id"
    one = run(Query, ctx, url=url, sql=sql, parameters={"low": 2}, fetchType="FETCH_ONE")
    assert one["size"] == 1
    assert one["row"]["id"] == 2
    assert one["row"]["name"] == "ink: blue"
    assert one["row"]["price"] == 12
    assert str(one["row"]["born"]).startswith("2024-02-03")
    rows = run(Query, ctx, url=url, sql=sql, parameters={"low": 0}, fetchType="FETCH")
    assert rows["size"] == 2
    assert [r["name"] for r in rows["rows"]] == ["pen", "ink: blue"]
    assert rows["rows"][0]["price"] == 1.5
    stored = run(Query, ctx, url=url, sql=sql, parameters={"low": 0}, fetchType="STORE")
    assert stored["size"] == 2
    back = list(read_rows(ctx.open_uri(stored["uri"])))
    assert [str(r["name"]) for r in back] == ["pen", "ink: blue"]
    if database != "sqlite":
        assert back[0]["price"] == decimal.Decimal("1.50")
    updated = run(Query, ctx, url=url, sql="UPDATE items SET name = 'x' WHERE id = 1")
    assert updated == {}
    deprecated = run(Query, ctx, url=url, sql="SELECT name FROM items ORDER BY id", fetch=True)
    assert deprecated["rows"][0]["name"] == "x"


def test_parameters_are_bound_never_formatted(any_url, ctx) -> None:
    database, url = any_url
    run(Queries, ctx, url=url, sql=f"{CREATE[database]}; {INSERT}")
    evil = "x'); DELETE FROM items; --"
    run(
        Query,
        ctx,
        url=url,
        sql="INSERT INTO items (id, name) VALUES (:id, :name)",
        parameters={"id": 3, "name": evil},
    )
    out = run(Query, ctx, url=url, sql="SELECT name FROM items ORDER BY id", fetchType="FETCH")
    assert [r["name"] for r in out["rows"]] == ["pen", "ink: blue", evil]
    # A :name inside a string literal stays text, even when a parameter has that name.
    lit = run(
        Query,
        ctx,
        url=url,
        sql="SELECT ':name %s' AS lit, :name AS val /* :name */",
        parameters={"name": "x"},
        fetchType="FETCH_ONE",
    )
    assert lit["row"] == {"lit": ":name %s", "val": "x"}


def test_queries_outputs_and_transaction(any_url, ctx) -> None:
    database, url = any_url
    run(Queries, ctx, url=url, sql=CREATE[database])
    out = run(
        Queries,
        ctx,
        url=url,
        sql=f"{INSERT}; SELECT count(*) AS n FROM items; SELECT name FROM items ORDER BY id;",
        fetchType="FETCH",
    )
    assert len(out["outputs"]) == 2
    assert out["outputs"][0]["rows"] == [{"n": 2}]
    assert out["outputs"][1]["size"] == 2
    # One transaction: a failing statement undoes the insert before it.
    with pytest.raises(TaskFailed):
        run(Queries, ctx, url=url, sql="DELETE FROM items; SELECT * FROM no_such_table")
    count = run(Query, ctx, url=url, sql="SELECT count(*) AS n FROM items", fetchType="FETCH_ONE")
    assert count["row"]["n"] == 2
    # transaction: false commits each statement on its own.
    with pytest.raises(TaskFailed):
        run(
            Queries,
            ctx,
            url=url,
            sql="DELETE FROM items WHERE id = 1; SELECT * FROM no_such_table",
            transaction=False,
        )
    count = run(Query, ctx, url=url, sql="SELECT count(*) AS n FROM items", fetchType="FETCH_ONE")
    assert count["row"]["n"] == 1


def test_postgres_types_time_zone_and_secrets(pg_url, ctx) -> None:
    sql = (
        "SELECT TIMESTAMPTZ '2024-01-02 03:04:05+00' AS ts, INTERVAL '90 minutes' AS iv, "
        "'{1,2}'::int[] AS arr, '{\"a\": 1}'::jsonb AS j, 'ab'::bytea AS b, "
        "'12:30'::time AS t, 10::numeric AS n, '%' AS pct"
    )
    out = run(
        Query,
        ctx,
        url=pg_url,
        username="postgres",
        password="hunter2-secret",
        sql=sql,
        fetchType="FETCH_ONE",
        timeZoneId="Europe/Paris",
    )
    assert out["row"] == {
        "ts": "2024-01-02T04:04:05+01:00",
        "iv": "PT1H30M",
        "arr": [1, 2],
        "j": {"a": 1},
        "b": "YWI=",
        "t": "12:30:00",
        "n": 10,
        "pct": "%",
    }
    assert not any("hunter2" in line for line in ctx.logger.lines())


def test_after_sql_runs_in_the_same_transaction(pg_url, ctx) -> None:
    run(Queries, ctx, url=pg_url, sql=f"{CREATE['pg']}; {INSERT}")
    out = run(
        Query,
        ctx,
        url=pg_url,
        sql="SELECT id FROM items WHERE name <> 'done' ORDER BY id",
        afterSQL="UPDATE items SET name = 'done'",
        fetchType="FETCH",
    )
    assert out["size"] == 2
    again = run(Query, ctx, url=pg_url, sql="SELECT id FROM items WHERE name <> 'done'", fetch=True)
    assert again["size"] == 0


def test_bad_sql_and_unreachable_server_fail_the_task(ctx, sqlite_url) -> None:
    with pytest.raises(TaskFailed, match="no_such"):
        run(Query, ctx, url=sqlite_url, sql="SELECT * FROM no_such")
    with pytest.raises(TaskFailed):
        run(Query, ctx, url="jdbc:postgresql://127.0.0.1:1/x", password="pw", sql="SELECT 1")


def test_copy_in_and_out(pg_url, ctx, tmp_path: Path) -> None:
    run(Query, ctx, url=pg_url, sql="CREATE TABLE people (id INT, name TEXT, note TEXT)")
    source = tmp_path / "people.csv"
    source.write_text('id;name;note\n1;"Ann; A.";\n2;Bob;hi\n')
    uri = ctx.put_file(source, "people.csv")
    loaded = run(
        CopyIn,
        ctx,
        url=pg_url,
        **{"from": uri},
        table="people",
        format="CSV",
        header=True,
        delimiter=";",
    )
    assert loaded == {"rowCount": 2}
    out = run(
        CopyOut,
        ctx,
        url=pg_url,
        sql="SELECT id, name FROM people ORDER BY id",
        format="CSV",
        header=True,
    )
    assert out["rowCount"] == 2
    assert ctx.open_uri(out["uri"]).read_text() == "id,name\n1,Ann; A.\n2,Bob\n"
    table = run(CopyOut, ctx, url=pg_url, table="people", columns=["name"])
    assert ctx.open_uri(table["uri"]).read_text() == "Ann; A.\nBob\n"
    with pytest.raises(TaskFailed, match="no_such"):
        run(CopyOut, ctx, url=pg_url, table="no_such")


def test_sqlite_file_round_trip_and_duckdb_input_files(ctx) -> None:
    made = run(
        Queries,
        ctx,
        url="jdbc:sqlite:shop.db",
        outputDbFile=True,
        sql="CREATE TABLE t (a INT); INSERT INTO t VALUES (7);",
    )
    again = run(
        Query,
        ctx,
        url="jdbc:sqlite:other.db",
        sqliteFile=made["databaseUri"],
        sql="SELECT a FROM t",
        fetchType="FETCH_ONE",
    )
    assert again["row"] == {"a": 7}
    pytest.importorskip("duckdb_engine")
    out = run(
        Query,
        ctx,
        url="jdbc:duckdb:",
        inputFiles={"in.csv": "x,y\n1,2\n3,4\n"},
        sql="SELECT sum(y) AS s FROM read_csv_auto('in.csv', header=true)",
        fetchType="FETCH_ONE",
    )
    assert out["row"] == {"s": 6}


def _poll() -> PollContext:
    return PollContext("t.jdbc", "flow", "watch", "poll-1")


def test_trigger_fires_only_with_rows_and_marks_them(pg_url, ctx, tmp_path: Path) -> None:
    run(Query, ctx, url=pg_url, sql=CREATE["pg"])
    props = {
        "url": pg_url,
        "sql": "SELECT id, name FROM items WHERE name <> 'seen' ORDER BY id",
        "afterSQL": "UPDATE items SET name = 'seen'",
        "fetchType": "FETCH",
    }
    assert Trigger().evaluate(props, _poll()) == []
    run(Query, ctx, url=pg_url, sql=INSERT)
    [event] = Trigger().evaluate(props, _poll())
    assert event.key == "poll:poll-1"
    assert event.variables["size"] == 2
    assert [r["name"] for r in event.variables["rows"]] == ["pen", "ink: blue"]
    assert Trigger().evaluate(props, _poll()) == []  # afterSQL marked them
    run(Query, ctx, url=pg_url, sql="UPDATE items SET name = 'new'")
    [stored] = Trigger().evaluate({**props, "fetchType": "STORE"}, _poll())
    kept = tmp_path / "kept.ion"

    def store(path: Path, name: str) -> str:
        kept.write_bytes(path.read_bytes())
        return f"kestra:///t/{name}"

    extra = stored.attach(store)
    assert extra["uri"].endswith(".ion")
    assert [int(r["id"]) for r in read_rows(kept)] == [1, 2]
    stored.done()
    first = {**props, "sql": "SELECT id, name FROM items ORDER BY id", "afterSQL": None}
    [one] = Trigger().evaluate({**first, "fetchType": "FETCH_ONE"}, _poll())
    assert one.variables == {"row": {"id": 1, "name": "seen"}, "size": 1}


def test_trigger_on_sqlite_counts_rows_with_none(sqlite_url, ctx) -> None:
    run(Queries, ctx, url=sqlite_url, sql=f"{CREATE['sqlite']}; {INSERT}")
    [event] = Trigger().evaluate({"url": sqlite_url, "sql": "SELECT * FROM items"}, _poll())
    assert event.variables == {"size": 2}


def test_database_files_obey_the_allowed_paths(ctx, tmp_path: Path, monkeypatch) -> None:
    allowed, other = tmp_path / "allowed", tmp_path / "other"
    monkeypatch.setenv("TRELLIS_JDBC_ALLOWED_PATHS", str(allowed))
    out = run(Query, ctx, url=f"jdbc:sqlite:{allowed / 'a.db'}", sql="SELECT 1 AS x", fetch=True)
    assert out["rows"] == [{"x": 1}]
    run(Query, ctx, url="jdbc:sqlite:local.db", sql="SELECT 1")  # the working directory
    with pytest.raises(TaskFailed, match="outside TRELLIS_JDBC_ALLOWED_PATHS"):
        run(Query, ctx, url=f"jdbc:sqlite:{other / 'b.db'}", sql="SELECT 1")
    monkeypatch.delenv("TRELLIS_JDBC_ALLOWED_PATHS")
    monkeypatch.setenv("TRELLIS_HOME", str(tmp_path / "home"))
    with pytest.raises(TaskFailed, match="inside Trellis's home"):
        run(Query, ctx, url=f"jdbc:sqlite:{tmp_path / 'home' / 'trellis.sqlite3'}", sql="SELECT 1")


def test_duckdb_writes_output_files_named_in_the_sql(tmp_path: Path) -> None:
    pytest.importorskip("duckdb_engine")
    from kernel.expressions.render import evaluate
    from tests.unit.fake_context import FakeContext

    class Rendering(FakeContext):
        def render(self, value, extra=None):  # noqa: ANN001, ANN201
            return evaluate(value, dict(extra or {})) if isinstance(value, str) else value

    ctx = Rendering(tmp_path / "r")
    out = run(
        Query,
        ctx,
        url="jdbc:duckdb:",
        inputFiles={"in.csv": "x,y\n1,2\n3,4\n"},
        outputFiles=["out"],
        sql="COPY (SELECT x FROM read_csv_auto('{{ workingDir }}/in.csv') ORDER BY x) "
        "TO '{{ outputFiles.out }}' (HEADER, DELIMITER ',')",
    )
    assert ctx.open_uri(out["outputFiles"]["out"]).read_text() == "x\n1\n3\n"
    with pytest.raises(TaskFailed, match="no file for outputFiles missing"):
        run(Query, ctx, url="jdbc:duckdb:", outputFiles=["missing"], sql="SELECT 1")


@pytest.mark.parametrize("database", ["pg", "sqlite", "duckdb"])
def test_a_killed_run_cancels_the_running_statement(database, request, ctx) -> None:
    import threading
    import time

    if database == "pg":
        url, sql = request.getfixturevalue("pg_url"), "SELECT pg_sleep(30)"
    elif database == "duckdb":
        url = request.getfixturevalue("duckdb_url")
        sql = "SELECT count(*) FROM range(1000000) a, range(1000000) b WHERE a.range + b.range = 7"
    else:  # a query that runs for minutes
        url = request.getfixturevalue("sqlite_url")
        sql = (
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
        )
    threading.Timer(1.0, lambda: setattr(ctx, "stop", True)).start()
    started = time.monotonic()
    with pytest.raises(TaskFailed, match="cancelled"):
        run(Query, ctx, url=url, sql=sql, fetchType="FETCH_ONE")
    assert time.monotonic() - started < 10


def test_mariadb_types(mariadb_url, ctx) -> None:
    sql = (
        "SELECT CAST('12:30:00' AS TIME) AS t, CAST('-838:59:59' AS TIME) AS neg, "
        "CAST('2024-01-02 03:04:05' AS DATETIME) AS dt, CAST(1.50 AS DECIMAL(5,2)) AS d, "
        "'%' AS pct, JSON_OBJECT('a', 1) AS j"
    )
    out = run(Query, ctx, url=mariadb_url, sql=sql, fetchType="FETCH_ONE")
    assert out["row"] == {
        "t": "12:30:00",
        "neg": "-838:59:59",
        "dt": "2024-01-02T03:04:05",
        "d": 1.5,
        "pct": "%",
        "j": '{"a": 1}',
    }


def test_mariadb_load_data_local_infile(mariadb_url, tmp_path: Path) -> None:
    from kernel.expressions.render import evaluate
    from tests.unit.fake_context import FakeContext

    class Rendering(FakeContext):
        def render(self, value, extra=None):  # noqa: ANN001, ANN201
            return evaluate(value, dict(extra or {})) if isinstance(value, str) else value

    ctx = Rendering(tmp_path / "r")
    source = tmp_path / "products.csv"
    source.write_text("id,name\n1,pen\n2,ink\n")
    run(Query, ctx, url=mariadb_url, sql="CREATE TABLE products (id INT, name TEXT)")
    run(
        Query,
        ctx,
        url=mariadb_url,
        inputFile=ctx.put_file(source, "products.csv"),
        sql="LOAD DATA LOCAL INFILE '{{ inputFile }}' INTO TABLE products "
        "FIELDS TERMINATED BY ',' LINES TERMINATED BY '\\n' IGNORE 1 ROWS",
    )
    out = run(Query, ctx, url=mariadb_url, sql="SELECT name FROM products ORDER BY id", fetch=True)
    assert [r["name"] for r in out["rows"]] == ["pen", "ink"]

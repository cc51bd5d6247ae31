"""The SQL family without a database server: URL parsing, statement splitting, parameter
binding, value conversion, Ion rows, deploy-time validation (SQLite and DuckDB files are
real databases but need no service)."""

from __future__ import annotations

import datetime as dt
import decimal
import sys
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel.spec.model import SpecError
from kernel.spec.parse import parse_flow
from plugins.jdbc.ion_rows import IonRowWriter, read_rows
from plugins.jdbc.runner import bindable, fetch_type, split_statements
from plugins.jdbc.urls import UrlError, parse_url
from plugins.jdbc.values import iso_duration, to_ion, to_json, zone


# ----------------------------------------------------------------------------------- URLs
@pytest.mark.parametrize(
    ("url", "database", "driver", "host", "port", "name"),
    [
        ("jdbc:postgresql://db.local:5433/shop", "postgresql", "postgresql+psycopg2",
         "db.local", 5433, "shop"),
        ("jdbc:postgresql://127.0.0.1:5432/", "postgresql", "postgresql+psycopg2",
         "127.0.0.1", 5432, None),
        ("postgresql://u:p@h/db", "postgresql", "postgresql+psycopg2", "h", None, "db"),
        ("postgresql+psycopg2://h:1/db", "postgresql", "postgresql+psycopg2", "h", 1, "db"),
        ("jdbc:mysql://127.0.0.1:3306/kestra", "mysql", "mysql+pymysql", "127.0.0.1", 3306,
         "kestra"),
        ("jdbc:mariadb://m:3306/", "mariadb", "mariadb+pymysql", "m", 3306, None),
        ("mysql://root@127.0.0.1/x", "mysql", "mysql+pymysql", "127.0.0.1", None, "x"),
    ],
)  # fmt: skip
def test_server_urls(url, database, driver, host, port, name) -> None:
    target = parse_url(url)
    assert (target.database, target.drivername, target.host, target.port, target.name) == (
        database, driver, host, port, name,
    )  # fmt: skip


def test_credentials_from_url_properties_and_query() -> None:
    t = parse_url("jdbc:postgresql://h/db?user=alice&password=s3cr%40t&sslmode=require&x=1")
    assert (t.username, t.password, t.query, t.ignored) == (
        "alice", "s3cr@t", {"sslmode": "require"}, ("x",),
    )  # fmt: skip
    t = parse_url("postgresql://bob:pw@h/db", username="carol", password="other")
    assert (t.username, t.password) == ("carol", "other")
    assert "other" not in t.display()
    assert "other" not in repr(t)
    url = t.sqlalchemy_url()
    assert url.password == "other"
    assert "other" not in url.render_as_string(hide_password=True)
    t = parse_url("jdbc:postgresql://h/db?currentSchema=sales")
    assert t.query == {"options": "-csearch_path=sales"}


def test_file_urls(tmp_path: Path) -> None:
    assert parse_url("jdbc:sqlite:/tmp/a.db").name == "/tmp/a.db"
    assert parse_url("jdbc:sqlite:a.db", base_dir=tmp_path).name == str(tmp_path / "a.db")
    assert parse_url("jdbc:sqlite::memory:").name is None
    assert parse_url("jdbc:duckdb:").name is None
    assert parse_url("jdbc:duckdb:/data/d.duckdb").name == "/data/d.duckdb"
    assert parse_url("sqlite:////abs/x.db").name == "/abs/x.db"
    assert parse_url("sqlite:///rel.db", base_dir=tmp_path).name == str(tmp_path / "rel.db")
    assert parse_url("sqlite://").name is None
    assert parse_url("duckdb:///:memory:").name is None


@pytest.mark.parametrize(
    "url", ["", "jdbc:oracle:thin:@h:1521:XE", "jdbc:postgresql:db", "mysql:x",
            "jdbc:postgresql://h:notaport/db", "jdbc:duckdb:md:my_db"],
)  # fmt: skip
def test_bad_urls(url: str) -> None:
    with pytest.raises(UrlError):
        parse_url(url)


def test_bad_url_message_hides_the_password() -> None:
    with pytest.raises(UrlError) as err:
        parse_url("jdbc:oracle://u:hunter2@h/db?password=hunter2")
    assert "hunter2" not in str(err.value)


# ----------------------------------------------------------------------------- statements
def test_split_statements_respects_quotes_comments_and_dollar_quotes() -> None:
    sql = """
    -- a comment; with a semicolon
    CREATE TABLE t (a text);  /* block; comment */
    INSERT INTO t VALUES ('x;y'), ("q;"), ('it''s;');
    CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;
    SELECT $$a;b$$;
    ;;
    -- only a comment
    """
    parts = split_statements(sql)
    assert len(parts) == 4
    assert parts[1].startswith("INSERT")
    assert "'it''s;'" in parts[1]
    assert parts[2].endswith("LANGUAGE sql")
    assert split_statements("SELECT 'a\\';b'; SELECT 2", backslash_escapes=True) == [
        "SELECT 'a\\';b'",
        "SELECT 2",
    ]
    assert split_statements("select 1") == ["select 1"]
    assert split_statements("  -- nothing\n ; ") == []


def test_bindable_binds_only_known_parameters() -> None:
    sql = "SELECT '{\"a\":1}'::jsonb, '12:30', x::int, :name, :missing FROM t WHERE id = :id"
    text, used = bindable(sql, {"name": "n", "id": 3, "unused": 1})
    assert used == {"name": "n", "id": 3}
    assert "\\:missing" in text
    assert "\\:1" in text
    assert "x::int" in text
    assert ":name" in text
    assert "\\:name" not in text


def test_bindable_leaves_quotes_and_comments_alone() -> None:
    sql = "SELECT ':id', \"c:id\", $$ :id $$, $q$:id$q$ /* :id */, :id -- :id"
    text, used = bindable(sql, {"id": 5})
    assert used == {"id": 5}
    assert text.count("\\:id") == 5
    assert ", :id --" in text
    text, _ = bindable("SELECT 'it\\'s :id', :id", {"id": 1}, backslash_escapes=True)
    assert text == "SELECT 'it\\'s \\:id', :id"


def test_fetch_type_rules() -> None:
    assert fetch_type({}) == "NONE"
    assert fetch_type({"fetchType": "STORE"}) == "STORE"
    assert fetch_type({"fetch": True}) == "FETCH"
    assert fetch_type({"fetchOne": True, "fetch": True}) == "FETCH_ONE"
    assert fetch_type({"store": True, "fetchType": "FETCH"}) == "STORE"
    with pytest.raises(ValueError, match="fetchType"):
        fetch_type({"fetchType": "ALL"})


# ------------------------------------------------------------------------------ values
def test_to_json_shows_values_as_kestra_does() -> None:
    paris = zone("Europe/Paris")
    stamp = dt.datetime(2024, 1, 2, 3, 4, 5, 600000, tzinfo=dt.UTC)
    row = {
        "i": 1, "s": "x", "b": True, "n": None, "f": 1.5,
        "d": decimal.Decimal("12.50"), "di": decimal.Decimal("10"),
        "date": dt.date(2024, 1, 2), "time": dt.time(12, 30),
        "ts": stamp, "naive": dt.datetime(2024, 1, 2, 3, 4),
        "iv": dt.timedelta(hours=25, seconds=1.5), "blob": b"ab", "mv": memoryview(b"ab"),
        "u": uuid.UUID(int=1), "arr": [1, decimal.Decimal("2.5")], "j": {"k": [dt.date(2024, 1, 1)]},
        "nan": float("nan"),
    }  # fmt: skip
    out = {k: to_json(v) for k, v in row.items()}
    assert out["d"] == 12.5
    assert out["di"] == 10
    assert isinstance(out["di"], int)
    assert out["date"] == "2024-01-02"
    assert out["time"] == "12:30:00"
    assert out["ts"] == "2024-01-02T03:04:05.600000+00:00"
    assert out["naive"] == "2024-01-02T03:04:00"
    assert out["iv"] == "PT25H1.5S"
    assert out["blob"] == "YWI="
    assert out["mv"] == "YWI="
    assert out["u"] == "00000000-0000-0000-0000-000000000001"
    assert out["arr"] == [1, 2.5]
    assert out["j"] == {"k": ["2024-01-01"]}
    assert out["nan"] == "nan"
    assert to_json(stamp, paris) == "2024-01-02T04:04:05.600000+01:00"
    assert to_json(dt.datetime(2024, 1, 2), paris) == "2024-01-02T00:00:00"


def test_iso_durations_and_zones() -> None:
    assert iso_duration(dt.timedelta(0)) == "PT0S"
    assert iso_duration(dt.timedelta(minutes=90)) == "PT1H30M"
    assert iso_duration(-dt.timedelta(seconds=5)) == "PT-5S"
    assert zone(None) is None
    with pytest.raises(ValueError, match="Mars/Olympus"):
        zone("Mars/Olympus")


def test_ion_rows_round_trip_keeps_types(tmp_path: Path) -> None:
    rows = [
        {"i": 1, "s": "a \"q\"\nline", "d": decimal.Decimal("1.50"), "n": None,
         "ts": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "day": dt.date(2024, 1, 2),
         "blob": b"\x00\x01", "t": dt.time(1, 2), "l": [1, "x"], "m": {"k": 1.25},
         "weird name": True},
        {"i": 2, "s": "é", "d": decimal.Decimal("100"), "n": None, "ts": None, "day": None,
         "blob": None, "t": None, "l": [], "m": {}, "weird name": False},
    ]  # fmt: skip
    path = tmp_path / "rows.ion"
    with IonRowWriter(path) as writer:
        for row in rows:
            writer.write({k: to_ion(v) for k, v in row.items()})
    text = path.read_text()
    assert writer.count == 2
    assert len(text.splitlines()) == 2
    assert "$ion_1_0" not in text
    back = list(read_rows(path))
    assert back[0]["i"] == 1
    assert back[0]["s"] == rows[0]["s"]
    assert back[0]["d"] == decimal.Decimal("1.50")
    assert back[1]["d"] == decimal.Decimal("100")
    assert back[0]["ts"] == rows[0]["ts"]
    assert back[0]["blob"] == b"\x00\x01"
    assert (back[0]["day"].year, back[0]["day"].day) == (2024, 2)
    assert back[0]["t"] == "01:02:00"
    assert list(back[0]["l"]) == [1, "x"]
    assert bool(back[0]["weird name"]) is True
    assert back[1]["s"] == "é"


# -------------------------------------------------------------------------- validation
def _flow(task: str) -> str:
    return f"id: f\nnamespace: t.jdbc\ntasks:\n{task}"


QUERY = """  - id: q
    type: io.kestra.plugin.jdbc.postgresql.Query
    url: {url}
    sql: SELECT 1
"""


def test_valid_flows_with_kestra_names() -> None:
    parse_flow(_flow(QUERY.format(url="jdbc:postgresql://127.0.0.1:5432/postgres")))
    parse_flow(_flow(QUERY.format(url="'{{ vars.url }}'")))


@pytest.mark.parametrize(
    ("task", "message"),
    [
        (QUERY.format(url="jdbc:oracle:thin:@h:1521:XE"), "unsupported database URL"),
        (QUERY.format(url="http://x"), "no dialect 'http'"),
        (QUERY + "    fetchType: ALL\n", "fetchType"),
        (QUERY + "    fetch: true\n    store: true\n", "only one of"),
        (QUERY + "    timeZoneId: Nowhere/City\n", "Nowhere/City"),
        ("""  - id: c
    type: io.kestra.plugin.jdbc.postgresql.CopyIn
    url: jdbc:mysql://h/db
    from: kestra:///x
    table: t
""", "PostgreSQL only"),
        ("""  - id: c
    type: io.kestra.plugin.jdbc.postgresql.CopyOut
    url: jdbc:postgresql://h/db
""", "`table` or `sql`"),
    ],
)  # fmt: skip
def test_invalid_flows(task: str, message: str) -> None:
    task = task.replace("{url}", "jdbc:postgresql://h/db")
    with pytest.raises(SpecError) as err:
        parse_flow(_flow(task))
    assert message in str(err.value)


def test_missing_library_fails_validation_naming_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "sqlalchemy", None)  # import sqlalchemy -> ImportError
    with pytest.raises(SpecError) as err:
        parse_flow(_flow(QUERY.format(url="jdbc:postgresql://h/db")))
    assert "pip install 'trellis[jdbc]'" in str(err.value)
    assert "sqlalchemy" in str(err.value)


def test_missing_driver_is_named(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pymysql", None)
    parse_flow(_flow(QUERY.format(url="jdbc:postgresql://h/db")))  # not needed here
    with pytest.raises(SpecError) as err:
        parse_flow(_flow(QUERY.format(url="jdbc:mariadb://h:3306/db")))
    assert "pymysql" in str(err.value)
    assert "trellis[jdbc]" in str(err.value)


def test_trigger_validation_and_password_is_confidential() -> None:
    flow = """id: f
namespace: t.jdbc
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "{{ trigger.size }}"
triggers:
  - id: watch
    type: io.kestra.plugin.jdbc.sqlite.Trigger
    url: jdbc:sqlite:/tmp/x.db
    sql: SELECT 1
    interval: PT30S
    fetchType: FETCH
"""
    spec = parse_flow(flow)
    assert spec.triggers[0].type == "trellis.jdbc.Trigger"
    with pytest.raises(SpecError, match="unsupported database URL"):
        parse_flow(flow.replace("jdbc:sqlite:/tmp/x.db", "jdbc:h2:mem"))
    from plugins.jdbc.trigger import Trigger

    assert "password" in Trigger.confidential


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False),
    st.decimals(allow_nan=False, allow_infinity=False, places=None),
    st.text(),
)


@settings(max_examples=300, deadline=None)
@given(row=st.dictionaries(st.text(min_size=1), scalars, max_size=6))
def test_the_fast_ion_path_reads_back_as_simpleion_does(row: dict) -> None:
    from amazon.ion import simpleion

    from plugins.jdbc.ion_rows import scalar, symbol

    text = "{" + ",".join(f"{symbol(k)}:{scalar(v)}" for k, v in row.items()) + "}"
    fast = simpleion.loads(text)
    slow = simpleion.loads(simpleion.dumps(row, binary=False, omit_version_marker=True))
    # Re-written by simpleion, the two parsed values must be the same Ion (types included).
    again = {"binary": False, "omit_version_marker": True}
    assert simpleion.dumps(fast, **again) == simpleion.dumps(slow, **again)


def test_other_sqlalchemy_dialects_pass_through() -> None:
    t = parse_url("mssql+pyodbc://sa:pw@db:1433/sales?driver=ODBC+Driver+18")
    assert (t.database, t.drivername, t.host, t.port, t.name) == (
        "mssql", "mssql+pyodbc", "db", 1433, "sales",
    )  # fmt: skip
    assert t.query == {"driver": "ODBC Driver 18"}
    with pytest.raises(UrlError, match="SQLAlchemy URL"):
        parse_url("jdbc:sqlserver://db:1433;databaseName=sales")
    parse_flow(_flow(QUERY.replace("io.kestra.plugin.jdbc.postgresql.Query", "trellis.jdbc.Query")
                     .format(url="'mssql+pyodbc://db/sales'")))  # fmt: skip


def test_a_dialect_missing_on_the_worker_fails_the_task(tmp_path: Path) -> None:
    from kernel.plugin import TaskFailed
    from plugins.jdbc.query import Query
    from tests.unit.fake_context import FakeContext

    with pytest.raises(TaskFailed, match="no SQLAlchemy dialect or driver"):
        Query().run({"url": "nosuchdb+nodriver://h/db", "sql": "SELECT 1"}, FakeContext(tmp_path))


def test_postgres_ssl_properties_become_libpq_files(tmp_path: Path) -> None:
    from plugins.jdbc.common import target_of
    from tests.unit.fake_context import FakeLogger

    props = {
        "url": "jdbc:postgresql://h/db",
        "sslMode": "VERIFY_FULL",
        "sslRootCert": "-----BEGIN CERTIFICATE-----\nx\n",
        "sslKeyPassword": "pw",
    }
    target = target_of(props, tmp_path, FakeLogger())
    assert target.query["sslmode"] == "verify-full"
    assert target.query["sslpassword"] == "pw"
    pem = Path(target.query["sslrootcert"])
    assert pem.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert pem.stat().st_mode & 0o777 == 0o600

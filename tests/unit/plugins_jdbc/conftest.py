"""Throwaway databases for the SQL family's tests: a PostgreSQL schema, a MariaDB database,
SQLite and DuckDB files. A server that is not reachable skips its tests (a laptop may have
none); every test cleans up what it created."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.unit.fake_context import FakeContext

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}
MARIADB = {"host": "127.0.0.1", "port": 3306, "user": "root"}


def _unique() -> str:
    return f"trellis_jdbc_{uuid.uuid4().hex[:10]}"


def _scratch(conn: Any, create: str, drop: str, url: str) -> Iterator[str]:
    """Create a scratch schema or database on ``conn``, yield its URL, then drop it and close
    the connection."""
    with conn.cursor() as cur:
        cur.execute(create)
    try:
        yield url
    finally:
        with conn.cursor() as cur:
            cur.execute(drop)
        conn.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A JDBC URL whose current schema is a new, empty schema dropped afterwards."""
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        conn = psycopg2.connect(connect_timeout=3, **PG)
    except psycopg2.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable at 127.0.0.1:5432: {exc}")
    conn.autocommit = True
    schema = _unique()
    url = f"jdbc:postgresql://127.0.0.1:5432/postgres?currentSchema={schema}"
    yield from _scratch(conn, f'CREATE SCHEMA "{schema}"', f'DROP SCHEMA "{schema}" CASCADE', url)


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    """A JDBC URL of a new MariaDB database dropped afterwards."""
    pymysql = pytest.importorskip("pymysql")
    try:
        conn = pymysql.connect(connect_timeout=3, autocommit=True, **MARIADB)
    except pymysql.err.OperationalError as exc:
        pytest.skip(f"MariaDB is not reachable at 127.0.0.1:3306: {exc}")
    name = _unique()
    url = f"jdbc:mariadb://127.0.0.1:3306/{name}"
    yield from _scratch(conn, f"CREATE DATABASE `{name}`", f"DROP DATABASE `{name}`", url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"jdbc:sqlite:{tmp_path / 'data.db'}"


@pytest.fixture
def duckdb_url(tmp_path: Path) -> str:
    pytest.importorskip("duckdb_engine")
    return f"jdbc:duckdb:{tmp_path / 'data.duckdb'}"


@pytest.fixture(params=["pg", "mariadb", "sqlite", "duckdb"])
def any_url(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(database, URL) for each of the four databases."""
    name = {"pg": "pg_url", "mariadb": "mariadb_url", "sqlite": "sqlite_url"}.get(
        request.param, "duckdb_url"
    )
    return request.param, request.getfixturevalue(name)


@pytest.fixture
def ctx(tmp_path: Path) -> FakeContext:
    return FakeContext(tmp_path / "ctx", secrets=["hunter2-secret"])

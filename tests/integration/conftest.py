"""Integration helpers. The ``workers`` fixture (real Celery workers and beat on the configured
broker and test database) lives in tests/conftest.py, so one fleet serves every suite."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest


def wait_for(predicate, timeout: float = 30.0, poll: float = 0.1):  # noqa: ANN001, ANN201
    """Poll until ``predicate()`` is truthy; returns its value or fails the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    pytest.fail(f"condition not met within {timeout}s")


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A throwaway schema of the machine's PostgreSQL (127.0.0.1:5432, user postgres) holding
    ``orders (id INT, total NUMERIC(8,2))`` with rows (1, 9.99), (2, 20), (3, 0.5); dropped
    afterwards. Skips when PostgreSQL is not reachable (a laptop without it)."""
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        conn = psycopg2.connect(
            host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=3
        )
    except psycopg2.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable at 127.0.0.1:5432: {exc}")
    conn.autocommit = True
    schema = f"trellis_jdbc_it_{uuid.uuid4().hex[:10]}"
    with conn.cursor() as cur:
        cur.execute(f'CREATE SCHEMA "{schema}"')
        cur.execute(f'CREATE TABLE "{schema}".orders (id INT, total NUMERIC(8,2))')
        cur.execute(f'INSERT INTO "{schema}".orders VALUES (1, 9.99), (2, 20), (3, 0.5)')
    try:
        yield schema
    finally:
        with conn.cursor() as cur:
            cur.execute(f'DROP SCHEMA "{schema}" CASCADE')
        conn.close()

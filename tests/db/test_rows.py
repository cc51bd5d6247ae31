"""The hot path's plain SQL (``executions/runtime/rows.py``) reads and writes exactly what the ORM
would, on whichever database the suite runs on (SQLite here, PostgreSQL in CI's second
pass): dates keep their instant and zone, JSON its structure, keys come back, and a batch
larger than SQLite's parameter cap still lands whole."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from executions.models import Execution, LogEntry, TaskRun, TaskRunAttempt
from executions.runtime import rows
from executions.runtime.persistence import load_snapshot

pytestmark = pytest.mark.django_db
MOMENT = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture
def execution() -> Execution:
    return Execution.objects.create(
        namespace="t", flow_id="f", flow_revision=1, inputs={"n": 1, "s": "é", "l": [1, None]},
        labels={"k": "v"}, trigger={"id": "x", "variables": {"when": "2026"}}, started_at=MOMENT,
    )  # fmt: skip


def test_an_instance_read_in_sql_equals_the_orms(execution: Execution) -> None:
    orm = Execution.objects.get(pk=execution.pk)
    raw = rows.get(Execution, execution.pk, lock=False)
    assert raw is not None
    for name in rows.concrete_names(Execution):
        assert getattr(raw, name) == getattr(orm, name), name
    assert raw.started_at == MOMENT
    assert raw.started_at.utcoffset() == timedelta(0)
    assert rows.get(Execution, "nope") is None


def test_created_rows_read_back_through_the_orm(execution: Execution) -> None:
    run = TaskRun(execution=execution, task_id="a", state="CREATED", seq=0, started_at=MOMENT,
                  outputs={"value": [1, {"x": "y"}]}, state_history=[{"state": "CREATED"}])  # fmt: skip
    rows.create([run])
    attempts = [TaskRunAttempt(task_run=run, execution=execution, number=n, sent_at=MOMENT)
                for n in (1, 2)]  # fmt: skip
    rows.create(attempts)
    assert all(a.pk for a in attempts)
    assert attempts[0].pk != attempts[1].pk
    stored = TaskRun.objects.get(pk=run.pk)
    assert stored.outputs == {"value": [1, {"x": "y"}]}
    assert stored.started_at == MOMENT
    assert stored.created_at is not None  # auto_now_add, as the ORM sets it
    by_pk = {a.pk: a.number for a in TaskRunAttempt.objects.filter(task_run=run)}
    assert by_pk == {attempts[0].pk: 1, attempts[1].pk: 2}
    snap = load_snapshot(execution)
    assert [(r.id, r.outputs, r.started_at) for r in snap.task_runs] == [
        (run.id, {"value": [1, {"x": "y"}]}, MOMENT)
    ]


def test_a_conditional_update_changes_only_a_matching_row(execution: Execution) -> None:
    changed = rows.update(Execution, {"state": "RUNNING", "ended_at": MOMENT},
                          id=execution.pk, state="CREATED")  # fmt: skip
    unchanged = rows.update(Execution, {"state": "FAILED"}, id=execution.pk, state="CREATED")
    assert (changed, unchanged) == (1, 0)
    stored = Execution.objects.get(pk=execution.pk)
    assert (stored.state, stored.ended_at) == ("RUNNING", MOMENT)
    execution.labels = {"new": "label"}
    before = stored.updated_at
    rows.save_fields(execution, ["labels", "updated_at"])
    stored = Execution.objects.get(pk=execution.pk)
    assert stored.labels == {"new": "label"}
    assert stored.updated_at > before


@pytest.fixture
def capped_sqlite() -> Iterator[None]:
    """SQLite held to the 999 parameters per statement that older builds allow (and that
    Django plans for), so a batch that ignored the cap would fail here."""
    if connection.vendor != "sqlite":
        yield
        return
    connection.ensure_connection()
    raw = connection.connection
    before = raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
    try:
        yield
    finally:
        raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, before)


@pytest.mark.usefixtures("capped_sqlite")
def test_a_batch_larger_than_one_statement_allows_lands_whole(execution: Execution) -> None:
    lines = [(execution.pk, None, "a", 1, MOMENT + timedelta(microseconds=i), "INFO", f"line {i}")
             for i in range(600)]  # 4,200 parameters  # fmt: skip
    names = ("execution_id", "task_run_id", "task_id", "attempt", "timestamp", "level", "message")
    keys = rows.insert(LogEntry, names, lines, returning="id")
    assert len(set(keys)) == 600
    stored = list(LogEntry.objects.filter(execution=execution).order_by("timestamp"))
    assert [line.message for line in stored] == [f"line {i}" for i in range(600)]
    assert stored[0].timestamp == MOMENT


def test_keys_come_back_where_the_database_has_no_returning(
    execution: Execution, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite before 3.35 has no RETURNING: rows go one by one, keys from ``lastrowid``."""
    if connection.vendor != "sqlite":
        pytest.skip("every PostgreSQL has RETURNING; lastrowid is SQLite's")
    monkeypatch.setattr(connection.features, "can_return_columns_from_insert", False)
    run = TaskRun(execution=execution, task_id="a", seq=0)
    rows.create([run])
    attempts = [TaskRunAttempt(task_run=run, execution=execution, number=n) for n in (1, 2)]
    rows.create(attempts)
    by_pk = {a.pk: a.number for a in TaskRunAttempt.objects.filter(task_run=run)}
    assert by_pk == {attempts[0].pk: 1, attempts[1].pk: 2}


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_a_claim_on_postgresql_waits_for_the_wal_flush() -> None:
    """A claim lost in a database crash let one attempt number run its task twice (see
    _claim_sql, docs/reliability.md): its commit is as durable as the record's."""
    from executions.runtime.advance import advance_execution
    from executions.services import execution_create
    from executions.worker.attempt import claim
    from flows.services import flow_deploy

    flow = flow_deploy(
        source="id: c\nnamespace: t\ntasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n"
        "    message: hi\n"
    ).flow
    execution = execution_create(flow=flow)
    advance_execution(execution.id)
    attempt = TaskRunAttempt.objects.get(execution_id=execution.id)
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
        assert claim(attempt.pk) is not None
        cursor.execute("SHOW synchronous_commit")  # the test's transaction is the claim's
        assert cursor.fetchone()[0] == "on"
    attempt.refresh_from_db()
    assert attempt.state == "RUNNING"

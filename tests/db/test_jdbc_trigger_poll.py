"""The SQL family's Trigger through the real polling runtime (issue 17): a poll of a SQLite
file with rows starts one execution whose ``trigger.uri`` is an Ion file copied into the
execution's storage; ``afterSQL`` marks the rows so the next poll starts nothing."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from executions.models import Execution
from flows.services import flow_deploy
from orchestrator.storage import default_storage
from triggers import polling, sync
from triggers.polling import poll_run, polls_due

pytestmark = pytest.mark.django_db

NS, FLOW, TRIGGER = "t.jdbc", "orders", "watch"
T0 = datetime(2025, 1, 6, 9, 30, tzinfo=UTC)


@pytest.fixture
def sent(monkeypatch) -> list[tuple]:
    messages: list[tuple] = []
    monkeypatch.setattr(polling, "send", lambda name, args, queue: messages.append((*args, queue)))
    monkeypatch.setattr(sync, "clock", lambda: T0)
    return messages


def test_jdbc_trigger_starts_one_execution_with_the_stored_rows(
    tmp_path: Path, sent, monkeypatch
) -> None:
    pytest.importorskip("sqlalchemy")
    db = tmp_path / "orders.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER, status TEXT)")
        conn.execute("INSERT INTO orders VALUES (1, 'NEW'), (2, 'NEW'), (3, 'DONE')")
    flow_deploy(
        source=f"""id: {FLOW}
namespace: {NS}
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "{{{{ trigger.size }}}} new orders"
triggers:
  - id: {TRIGGER}
    type: io.kestra.plugin.jdbc.sqlite.Trigger
    url: jdbc:sqlite:{db}
    sql: SELECT id FROM orders WHERE status = 'NEW' ORDER BY id
    afterSQL: UPDATE orders SET status = 'SEEN' WHERE status = 'NEW'
    fetchType: STORE
    interval: PT10S
"""
    )
    assert polls_due(T0) == 1
    outcome = poll_run(namespace=NS, flow_id=FLOW, trigger_id=TRIGGER, token=sent[-1][3])
    [started] = outcome.started
    execution = Execution.objects.get(pk=started.id)
    variables = execution.trigger["variables"]
    assert variables["size"] == 2
    with default_storage().open(variables["uri"]) as stream:
        assert stream.read().decode().splitlines() == ["{id:1}", "{id:2}"]
    later = T0 + timedelta(seconds=11)
    monkeypatch.setattr(sync, "clock", lambda: later)
    assert polls_due(later) == 1
    again = poll_run(namespace=NS, flow_id=FLOW, trigger_id=TRIGGER, token=sent[-1][3])
    assert again.started == []

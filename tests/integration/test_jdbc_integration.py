"""The SQL family end to end on real workers: a flow written with Kestra's type names runs a
PostgreSQL query with fetchType STORE, then logs the row count (issue 17). The queried
database is the machine's PostgreSQL whatever database Trellis itself runs on."""

from __future__ import annotations

import pytest

from executions.models import TaskRun
from kernel.states import State
from orchestrator.storage import default_storage
from tests.integration.runs import log_messages, run_source

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_postgres_query_store_then_log_on_real_workers(workers, pg_schema) -> None:
    done = run_source(
        f"""
id: jdbc-store
namespace: it.jdbc
tasks:
  - id: q
    type: io.kestra.plugin.jdbc.postgresql.Query
    url: jdbc:postgresql://127.0.0.1:5432/postgres?currentSchema={pg_schema}
    username: postgres
    sql: "SELECT id, total FROM orders WHERE total > :minimum {{{{ 'ORDER BY' }}}} id"
    parameters:
      minimum: 1
    fetchType: STORE
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "stored {{{{ outputs.q.size }}}} rows"
""",
        timeout=90,
    )
    assert done.state == State.SUCCESS
    q = TaskRun.objects.get(execution=done, task_id="q")
    assert q.outputs["size"] == 2
    assert q.outputs["uri"].startswith("kestra://")
    assert q.outputs["uri"].endswith(".ion")
    with default_storage().open(q.outputs["uri"]) as stored:
        lines = stored.read().decode().splitlines()
    assert lines == ["{id:1,total:9.99}", "{id:2,total:20.00}"]
    assert "stored 2 rows" in log_messages(done)

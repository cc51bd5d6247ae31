"""Transactions per task run as PostgreSQL counts them, with the real worker processes.

``pg_stat_statements`` would count statements, but it needs ``shared_preload_libraries`` (a
server restart), so ``pg_stat_database.xact_commit + xact_rollback`` of the benchmark
database is read instead; the exact statement counts come from ``bench.inprocess``. A backend publishes its counters when it exits (or idles a while), so the
window is made of process lifetimes: the execution is created while no worker runs, this
process closes its connection, the counter is read, workers start, run it and stop, and the
counter is read again. This process's own polls (one autocommit SELECT each) are
subtracted, and so is what a start and stop of the workers costs with nothing to do.
"""

from __future__ import annotations

import time

import psycopg2
from django.db import connection

from bench.backends import PG_DATABASE, PG_SERVER
from bench.report import Row
from executions.models import Execution, TaskRun
from executions.services import execution_create
from flows.models import Flow
from kernel.states import TERMINAL

SETTLE = 1.0  # seconds for exited backends' counters to land


def _transactions() -> int:
    conn = psycopg2.connect(f"{PG_SERVER}/postgres")
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
                [PG_DATABASE],
            )
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def _window(workers, execution_id: str | None) -> tuple[int, int]:  # noqa: ANN001
    """Transactions counted while workers start, run ``execution_id`` (if any) and stop;
    returns (transactions, polls of this process among them)."""
    connection.close()
    time.sleep(SETTLE)
    before = _transactions()
    workers.start_trellis()
    polls = 0
    raw = psycopg2.connect(_dsn())
    raw.autocommit = True
    try:
        while execution_id:
            polls += 1
            with raw.cursor() as cur:
                cur.execute(
                    f"SELECT state FROM {Execution._meta.db_table} WHERE id = %s", [execution_id]
                )
                if cur.fetchone()[0] in {str(s) for s in TERMINAL}:
                    break
            time.sleep(0.02)
    finally:
        raw.close()
        workers.stop_all()
    time.sleep(SETTLE)
    return _transactions() - before, polls


def _dsn() -> str:
    return f"{PG_SERVER}/{PG_DATABASE}"


def transactions_per_task_run(backend: str, workers, flow: Flow) -> list[Row]:  # noqa: ANN001
    """Run one execution of ``flow`` on freshly started workers; PostgreSQL's count of
    transactions per task run. Leaves the workers stopped."""
    workers.stop_all()
    idle, _ = _window(workers, None)
    execution = execution_create(flow=flow)
    counted, polls = _window(workers, execution.id)
    runs = TaskRun.objects.filter(execution_id=execution.id).count()
    state = Execution.objects.values_list("state", flat=True).get(pk=execution.id)
    work = counted - polls - idle
    return [Row(backend, "PostgreSQL transactions per task run (real workers)", work / runs,
                "txn", details=f"pg_stat_database: {counted} in window - {polls} polls - "
                f"{idle} idle start/stop = {work} for {runs} task runs ({state})")]  # fmt: skip

"""The orchestrator-shaped skeleton: the least an executor/worker design must cost per task.

Issue 19 compares Trellis with this shape, on Trellis's own Celery app (same serializer, acks,
prefetch and transport options), broker and database, with plain SQL tables the benchmark
creates (no migration):

* ``bench.sk.work`` (worker queue) runs the "task": it does nothing but send
  ``bench.sk.advance`` to the executor queue;
* ``bench.sk.advance`` (executor queue) runs ONE transaction: lock the execution row
  (``SELECT ... FOR UPDATE``), mark the finished task run SUCCESS, insert the next task run,
  update the execution; after the commit it sends the next ``work`` (or the execution ends).

So each task is two messages and one transaction, with the row lock and the writes an
orchestrator cannot do without. ``bench.run`` starts one worker per queue with ``-A
bench.skeleton``, exactly as it starts Trellis's workers.
"""

from __future__ import annotations

import time

from django.db import connection, transaction

from orchestrator.celery import app

__all__ = ["QUEUES", "advance", "app", "run_executions", "setup_tables", "work"]

#: (worker queue, executor queue).
QUEUES = ("bench.sk.worker", "bench.sk.executor")
EXECUTIONS = "bench_sk_execution"
TASK_RUNS = "bench_sk_task_run"


def setup_tables() -> None:
    """An execution row (what the executor locks) and its task runs, emptied for this run."""
    with connection.cursor() as cur:
        cur.execute(
            f"CREATE TABLE IF NOT EXISTS {EXECUTIONS} (id INTEGER PRIMARY KEY, "
            "state VARCHAR(16) NOT NULL, current INTEGER NOT NULL, total INTEGER NOT NULL, "
            "updated_at DOUBLE PRECISION NOT NULL)"
        )
        cur.execute(
            f"CREATE TABLE IF NOT EXISTS {TASK_RUNS} (execution_id INTEGER NOT NULL, "
            "seq INTEGER NOT NULL, state VARCHAR(16) NOT NULL, "
            "updated_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (execution_id, seq))"
        )
        cur.execute(f"DELETE FROM {TASK_RUNS}")
        cur.execute(f"DELETE FROM {EXECUTIONS}")


@app.task(name="bench.sk.work", ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def work(execution_id: int, seq: int) -> None:
    """The task itself does nothing: it reports to the executor."""
    advance.apply_async((execution_id, seq), queue=QUEUES[1])


@app.task(name="bench.sk.advance", ignore_result=True, acks_late=True,
          reject_on_worker_lost=True)  # fmt: skip
def advance(execution_id: int, seq: int) -> None:
    """Record task run ``seq`` and plan the next one, in one transaction under the
    execution's row lock; the next task is sent once that has committed."""
    lock = " FOR UPDATE" if connection.vendor == "postgresql" else ""
    stamp = time.time()
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(f"SELECT current, total FROM {EXECUTIONS} WHERE id = %s{lock}",
                    [execution_id])  # fmt: skip
        current, total = cur.fetchone()
        if current != seq:
            return  # a duplicate delivery: this task run was recorded already
        cur.execute(f"UPDATE {TASK_RUNS} SET state = 'SUCCESS', updated_at = %s "
                    "WHERE execution_id = %s AND seq = %s", [stamp, execution_id, seq])  # fmt: skip
        if seq + 1 < total:
            cur.execute(f"INSERT INTO {TASK_RUNS} (execution_id, seq, state, updated_at) "
                        "VALUES (%s, %s, 'CREATED', %s)", [execution_id, seq + 1, stamp])  # fmt: skip
            cur.execute(f"UPDATE {EXECUTIONS} SET current = %s, updated_at = %s WHERE id = %s",
                        [seq + 1, stamp, execution_id])  # fmt: skip
            transaction.on_commit(
                lambda: work.apply_async((execution_id, seq + 1), queue=QUEUES[0])
            )
        else:
            cur.execute(f"UPDATE {EXECUTIONS} SET state = 'SUCCESS', current = %s, "
                        "updated_at = %s WHERE id = %s", [seq + 1, stamp, execution_id])  # fmt: skip


def run_executions(first_id: int, count: int, tasks: int, timeout: float = 300.0) -> float:
    """Create ``count`` executions of ``tasks`` tasks at once (each with its first task run,
    whose ``work`` is sent after the commit) and poll until all have ended; wall seconds."""
    ids = list(range(first_id, first_id + count))
    started = time.perf_counter()
    stamp = time.time()
    with transaction.atomic(), connection.cursor() as cur:
        cur.executemany(f"INSERT INTO {EXECUTIONS} (id, state, current, total, updated_at) "
                        "VALUES (%s, 'RUNNING', 0, %s, %s)", [(i, tasks, stamp) for i in ids])  # fmt: skip
        cur.executemany(f"INSERT INTO {TASK_RUNS} (execution_id, seq, state, updated_at) "
                        "VALUES (%s, 0, 'CREATED', %s)", [(i, stamp) for i in ids])  # fmt: skip
    for i in ids:
        work.apply_async((i, 0), queue=QUEUES[0])
    deadline = started + timeout
    while time.perf_counter() < deadline:
        with connection.cursor() as cur:
            cur.execute(f"SELECT COUNT(*) FROM {EXECUTIONS} WHERE id >= %s AND id < %s "
                        "AND state = 'SUCCESS'", [ids[0], ids[-1] + 1])  # fmt: skip
            if cur.fetchone()[0] >= count:
                return time.perf_counter() - started
        time.sleep(0.005 if count == 1 else 0.02)
    raise TimeoutError(f"skeleton: {count} x {tasks} tasks not done in {timeout:.0f}s")

"""The floor: what 100 hops cost with bare Celery on the same broker, database and workers.

``hop`` does what every Trellis hop must do at least: take one message, run one small
database transaction, and send the next message once that transaction has committed. It is
registered on Trellis's own Celery app (same serializer, acks, prefetch and transport
options); ``bench.run`` starts workers with ``-A bench.bare_celery`` on the queues below.

Two floors are measured (see bench/README.md): ``self`` re-sends to its own queue (one message
and one transaction per hop), ``round-trip`` alternates two queues on two workers, as a
Trellis task goes executor -> worker -> executor (two messages, two transactions per task).
"""

from __future__ import annotations

import time

from django.db import connection, transaction

from orchestrator.celery import app

__all__ = ["QUEUES", "app", "hop", "run_chain", "setup_table"]

#: Queue of the first worker, and of the second for the round trip.
QUEUES = ("bench.a", "bench.b")
TABLE = "bench_hops"


def setup_table() -> None:
    """The one table the chain writes (plain SQL: the benchmark adds no migration)."""
    with connection.cursor() as cur:
        cur.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (id INTEGER PRIMARY KEY, hops INTEGER NOT NULL)"
        )


@app.task(name="bench.hop", ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def hop(chain_id: int, left: int, queues: list[str]) -> None:
    """Count this hop in one transaction; send the next once it has committed."""
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute(f"UPDATE {TABLE} SET hops = hops + 1 WHERE id = %s", [chain_id])
        if left > 1:
            queue = queues[(left - 1) % len(queues)]
            transaction.on_commit(
                lambda: hop.apply_async((chain_id, left - 1, queues), queue=queue)
            )


def run_chain(chain_id: int, hops: int, queues: tuple[str, ...], timeout: float = 120.0) -> float:
    """Send a chain of ``hops`` hops and poll until the last has committed; wall seconds."""
    with connection.cursor() as cur:
        cur.execute(f"DELETE FROM {TABLE} WHERE id = %s", [chain_id])
        cur.execute(f"INSERT INTO {TABLE} (id, hops) VALUES (%s, 0)", [chain_id])
    started = time.perf_counter()
    hop.apply_async((chain_id, hops, list(queues)), queue=queues[hops % len(queues)])
    deadline = started + timeout
    while time.perf_counter() < deadline:
        with connection.cursor() as cur:
            cur.execute(f"SELECT hops FROM {TABLE} WHERE id = %s", [chain_id])
            if cur.fetchone()[0] >= hops:
                return time.perf_counter() - started
        time.sleep(0.005)
    raise TimeoutError(f"bare chain {chain_id}: {hops} hops not done in {timeout:.0f}s")
